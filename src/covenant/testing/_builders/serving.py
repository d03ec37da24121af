"""Builders for serving commands and events (``covenant.events.serving``).

Every record is about one route, so its subject is ``route:<route>``. The defaults
line up: ``deploy-1`` serves ``vit:1.0.0`` (promoted to prod) on route ``vit`` in
prod, with the default canary plan; the agent's observations and the worker's
events name the same deployment.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final, Unpack

from covenant.events import serving as srv
from covenant.events.base import Command
from covenant.testing._builders._meta import M, Meta, build, sha
from covenant.testing._builders.promotion import MANIFEST_ID, MODEL_ID, SIGNER_ID

DEPLOY_ID: Final = "deploy-1"
ROUTE: Final = "vit"
_WRITERS: Final = {
    "serve.observe": "serving-agent",
    "canary.observe": "serving-agent",
    "serve.load": "serving-agent",
}


def route_record(cls: type[M], meta: Meta, route: str, **body: Any) -> M:
    """``build`` with the subject ``route:<route>`` and the type's writer."""
    producer = _WRITERS.get(cls.TYPE, "gateway" if issubclass(cls, Command) else "serving")
    return build(cls, meta, subject=f"route:{route}", producer=producer, route=route, **body)


def deployment_record(
    model_id: str = MODEL_ID,
    *,
    deploy_id: str = DEPLOY_ID,
    route: str = ROUTE,
    env: str = "prod",
    status: srv.DeploymentStatus = srv.DeploymentStatus.SERVING,
    canary_config: srv.CanaryConfig | None = None,
    traffic_percent: int = 100,
    endpoints: Sequence[str] = (),
    created_at: datetime | None = None,
) -> srv.DeploymentRecord:
    """A deployment as the serving worker records it: serving all of the route."""
    artifact = sha(f"weights {model_id}")
    return srv.DeploymentRecord(
        deploy_id=deploy_id,
        model_id=model_id,
        version=model_id.rsplit(":", 1)[-1],
        env=env,
        route=route,
        resources=srv.DeploymentResources(),
        status=status,
        canary_config=canary_config,
        created_at=created_at or datetime(2025, 6, 1, tzinfo=UTC),
        provenance=srv.DeploymentProvenance(
            artifact_id=artifact,
            served_artifact_id=artifact,
            manifest_id=MANIFEST_ID,
            signer_id=SIGNER_ID,
            model_status=env,
        ),
        metrics_endpoint=f"/serve/{deploy_id}/metrics",
        endpoints=list(endpoints),
        ready_replicas=len(endpoints),
        traffic_percent=traffic_percent,
    )


def deploy_model(
    model_id: str = MODEL_ID,
    *,
    deploy_id: str = DEPLOY_ID,
    route: str = ROUTE,
    env: str = "prod",
    canary_config: srv.CanaryConfig | None = None,
    resources: srv.DeploymentResources | None = None,
    **meta: Unpack[Meta],
) -> srv.DeployModel:
    """A ``serve.deploy`` command, as the gateway writes it."""
    return route_record(
        srv.DeployModel,
        meta,
        route,
        deploy_id=deploy_id,
        model_id=model_id,
        env=env,
        canary_config=canary_config,
        resources=resources or srv.DeploymentResources(),
    )


def scale_deployment(
    deploy_id: str = DEPLOY_ID,
    *,
    route: str = ROUTE,
    replicas: int | None = 2,
    traffic_percent: int | None = None,
    **meta: Unpack[Meta],
) -> srv.ScaleDeployment:
    """A ``serve.scale`` command: two replicas unless told."""
    return route_record(
        srv.ScaleDeployment,
        meta,
        route,
        deploy_id=deploy_id,
        replicas=replicas,
        traffic_percent=traffic_percent,
    )


def rollback_deployment(
    deploy_id: str = DEPLOY_ID, *, route: str = ROUTE, reason: str = "", **meta: Unpack[Meta]
) -> srv.RollbackDeployment:
    """A ``serve.rollback`` command."""
    return route_record(srv.RollbackDeployment, meta, route, deploy_id=deploy_id, reason=reason)


def observe_replicas(
    deploy_id: str = DEPLOY_ID,
    *,
    route: str = ROUTE,
    role: str = "stable",
    endpoints: Sequence[str] = ("http://127.0.0.1:9001",),
    desired: int | None = None,
    refused: str | None = None,
    reason: str = "",
    **meta: Unpack[Meta],
) -> srv.ObserveReplicas:
    """The agent's ``serve.observe``: every desired replica ready unless told."""
    return route_record(
        srv.ObserveReplicas,
        meta,
        route,
        deploy_id=deploy_id,
        role=role,
        desired=len(endpoints) if desired is None else desired,
        ready=len(endpoints),
        endpoints=list(endpoints),
        refused=refused,
        reason=reason,
    )


def arm_samples(
    arm: str = "canary",
    *,
    deploy_id: str = DEPLOY_ID,
    latency_ms: Sequence[float] = (10.0,),
    error: Sequence[float] | None = None,
    accuracy: Sequence[float] = (),
) -> srv.ArmSamples:
    """One arm's samples; no errors unless told."""
    return srv.ArmSamples(
        arm=arm,
        deploy_id=deploy_id,
        latency_ms=list(latency_ms),
        error=list(error) if error is not None else [0.0] * len(latency_ms),
        accuracy=list(accuracy),
    )


def observe_canary(
    deploy_id: str = DEPLOY_ID,
    *,
    route: str = ROUTE,
    step: int = 0,
    window_s: float = 1.0,
    arms: Sequence[srv.ArmSamples] | None = None,
    **meta: Unpack[Meta],
) -> srv.ObserveCanary:
    """The agent's ``canary.observe``: one sample per arm unless told."""
    chosen = list(arms) if arms is not None else [arm_samples("baseline"), arm_samples()]
    return route_record(
        srv.ObserveCanary,
        meta,
        route,
        deploy_id=deploy_id,
        step=step,
        window_s=window_s,
        arms=chosen,
    )


def observe_load(
    deploy_id: str = DEPLOY_ID,
    *,
    route: str = ROUTE,
    requests_per_s: float = 10.0,
    window_s: float = 5.0,
    **meta: Unpack[Meta],
) -> srv.ObserveLoad:
    """The agent's ``serve.load``."""
    return route_record(
        srv.ObserveLoad,
        meta,
        route,
        deploy_id=deploy_id,
        requests_per_s=requests_per_s,
        window_s=window_s,
    )


def deployment_recorded(
    record: srv.DeploymentRecord | None = None, **meta: Unpack[Meta]
) -> srv.DeploymentRecorded:
    """A ``serve.deployment`` event (``deployment_record()`` unless told)."""
    chosen = record or deployment_record()
    return build(
        srv.DeploymentRecorded,
        meta,
        subject=f"route:{chosen.route}",
        producer="serving",
        record=chosen,
    )


def deployment_refused(
    deploy_id: str = DEPLOY_ID,
    *,
    route: str = ROUTE,
    model_id: str | None = MODEL_ID,
    code: str = "not_promoted",
    reason: str = "vit:1.0.0 is in staging; prod serves only models promoted to prod",
    **meta: Unpack[Meta],
) -> srv.DeploymentRefused:
    """A ``serve.refused`` event: a prod deployment of a model not promoted to prod."""
    return route_record(
        srv.DeploymentRefused,
        meta,
        route,
        deploy_id=deploy_id,
        model_id=model_id,
        code=code,
        reason=reason,
    )


def traffic_shifted(
    route: str = ROUTE,
    *,
    arms: Sequence[srv.TrafficArm] | None = None,
    reason: str = "deploy-1 is ready",
    **meta: Unpack[Meta],
) -> srv.TrafficShifted:
    """A ``serve.traffic`` event: all of the route to ``deploy-1`` unless told."""
    chosen = arms or [
        srv.TrafficArm(name="stable", deploy_id=DEPLOY_ID, model_id=MODEL_ID, weight=100)
    ]
    return route_record(srv.TrafficShifted, meta, route, arms=list(chosen), reason=reason)


def canary_analysed(
    deploy_id: str = DEPLOY_ID,
    *,
    route: str = ROUTE,
    step: int = 0,
    decision: str = "continue",
    verdicts: Sequence[srv.CanaryVerdict] = (),
    reason: str = "too few samples yet",
    **meta: Unpack[Meta],
) -> srv.CanaryAnalysed:
    """A ``canary.analysed`` event: still gathering samples unless told."""
    return route_record(
        srv.CanaryAnalysed,
        meta,
        route,
        deploy_id=deploy_id,
        step=step,
        traffic_percent=5,
        decision=decision,
        score=100.0,
        n_baseline=0,
        n_canary=0,
        verdicts=list(verdicts),
        arms=[arm_samples("baseline"), arm_samples()],
        reason=reason,
        observation_id="observation-1",
    )


def scale_decided(
    deploy_id: str = DEPLOY_ID,
    *,
    route: str = ROUTE,
    from_replicas: int = 1,
    to_replicas: int = 2,
    trigger: str = "manual",
    reason: str = "asked for 2 replicas",
    **meta: Unpack[Meta],
) -> srv.ScaleDecided:
    """A ``serve.scaled`` event: one replica to two, by hand, unless told."""
    return route_record(
        srv.ScaleDecided,
        meta,
        route,
        deploy_id=deploy_id,
        from_replicas=from_replicas,
        to_replicas=to_replicas,
        trigger=trigger,
        reason=reason,
    )
