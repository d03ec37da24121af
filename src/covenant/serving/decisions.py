"""Pure serving decisions: may this be deployed, which split comes next, is it ready.

No I/O: every function takes the facts and returns records, so the worker is a thin
adapter and every rule here is unit-tested on plain values. The rules:

* **Who may serve where.** prod serves only versions promoted to prod; staging those
  promoted to staging or prod; sandbox any registered version that is not
  deprecated. Staging and prod also need a signed manifest (the servers check it
  again before they load the file).
* **How a route changes hands.** A deployment starts ``pending`` with no traffic.
  When its replicas answer (and, for a canary, the baseline's too), it takes the
  route: all of it when the route has no stable version or no canary plan, else the
  first canary step. The split gives the baseline the canary's weight, so the
  canary is compared with replicas of the stable version of its own age and load.
* **Rollback order.** A failing canary gives the stable version all the traffic
  first (one ``serve.traffic``), and only then is marked ``rolled_back``: the agent
  applies splits before it removes replicas, so no request is sent to a replica
  that is going away.
"""

from __future__ import annotations

from datetime import datetime

from covenant.catalog.names import is_family_name
from covenant.events.promotion import ManifestSignature
from covenant.events.registry import ModelStatus
from covenant.events.serving import (
    CanaryConfig,
    DeploymentProvenance,
    DeploymentRecord,
    DeploymentStatus,
    DeployModel,
    Strategy,
    TrafficArm,
)
from covenant.promotion.state import ModelView

__all__ = [
    "ENVIRONMENTS",
    "Problem",
    "canary_config_problem",
    "deploy_problem",
    "first_split",
    "new_record",
    "promoted_split",
    "stable_split",
    "step_split",
]

ENVIRONMENTS = ("sandbox", "staging", "prod")
Problem = tuple[str, str]
"""A refusal: its code and a sentence saying what is wrong and what to do."""

_MAY_SERVE = {
    "sandbox": {ModelStatus.DRAFT, ModelStatus.STAGING, ModelStatus.PROD},
    "staging": {ModelStatus.STAGING, ModelStatus.PROD},
    "prod": {ModelStatus.PROD},
}


def canary_config_problem(config: CanaryConfig) -> Problem | None:
    """What is wrong with a canary plan: steps must rise strictly from 1 to 100."""
    steps = config.steps
    if config.strategy is Strategy.CANARY:
        if not steps or steps[-1] != 100:
            return "invalid_canary", f"canary steps {steps} must end at 100"
        if any(not 1 <= s <= 100 for s in steps) or sorted(set(steps)) != steps:
            return "invalid_canary", f"canary steps {steps} must rise strictly within 1..100"
        if any(s > 50 for s in steps[:-1]):
            return (
                "invalid_canary",
                f"canary steps {steps}: a step before 100 may take at most 50 %, since the "
                "baseline takes as much again",
            )
    names = [m.name for m in config.metrics]
    if len(set(names)) != len(names):
        return "invalid_canary", f"canary metrics {names} name one metric twice"
    for metric in config.metrics:
        if metric.direction not in ("lower_is_better", "higher_is_better"):
            return (
                "invalid_canary",
                f"metric {metric.name}: direction {metric.direction!r} must be "
                "lower_is_better or higher_is_better",
            )
    return None


def deploy_problem(
    command: DeployModel,
    model: ModelView | None,
    signature: ManifestSignature | None,
    *,
    busy: DeploymentRecord | None,
    quarantine: str | None = None,
) -> Problem | None:
    """Why ``command`` may not be deployed; None when it may.

    ``busy`` is a deployment of the route still pending or in canary: one change of a
    route at a time, so every analysis compares exactly two versions. ``quarantine``
    is the id of a drift quarantine holding the model off every route until it is
    signed off (the drift worker's safety findings).
    """
    if command.env not in ENVIRONMENTS:
        return "invalid_env", f"env {command.env!r} must be one of {', '.join(ENVIRONMENTS)}"
    if not is_family_name(command.route):
        return (
            "invalid_route",
            f"route {command.route!r} must be lower case letters, digits, '-', '_' or '.'",
        )
    if model is None:
        return "unknown_model", f"{command.model_id} is not registered; register it first"
    if quarantine is not None:
        return (
            "quarantined",
            f"{command.model_id} is quarantined by {quarantine} after a safety finding; it "
            f"serves again once signed off (covenant drift signoff {quarantine})",
        )
    if model.status is ModelStatus.DEPRECATED:
        return "deprecated", f"{command.model_id} is deprecated and may not be deployed"
    if model.status not in _MAY_SERVE[command.env]:
        return (
            "not_promoted",
            f"{command.model_id} is in {model.status.value}; {command.env} serves only models "
            f"promoted to {command.env}"
            + (" or prod" if command.env == "staging" else "")
            + f" (covenant models promote {command.model_id} --to {command.env})",
        )
    if command.env != "sandbox" and signature is None:
        return (
            "unsigned",
            f"{command.model_id} has no signed manifest; {command.env} serves signed models only",
        )
    if command.canary_config is not None:
        problem = canary_config_problem(command.canary_config)
        if problem is not None:
            return problem
    if busy is not None:
        return (
            "route_busy",
            f"route {command.route} is changing already ({busy.deploy_id} is {busy.status.value}); "
            f"wait for it or roll it back (covenant serve rollback {busy.deploy_id})",
        )
    return None


def new_record(
    command: DeployModel,
    model: ModelView,
    signature: ManifestSignature | None,
    *,
    stable: DeploymentRecord | None,
    now: datetime,
) -> DeploymentRecord:
    """The first record of an accepted deployment: pending, no traffic yet."""
    entry = model.entry
    served = entry.artifact_id
    if signature is not None and signature.watermarked_artifact_id is not None:
        served = signature.watermarked_artifact_id
    canary = command.canary_config if stable is not None else None
    return DeploymentRecord(
        deploy_id=command.deploy_id,
        model_id=command.model_id,
        version=entry.version,
        env=command.env,
        route=command.route,
        node_pool=command.node_pool,
        resources=command.resources,
        status=DeploymentStatus.PENDING,
        canary_config=canary,
        created_at=now,
        provenance=DeploymentProvenance(
            artifact_id=entry.artifact_id,
            served_artifact_id=served,
            manifest_id=signature.manifest_id if signature else None,
            signer_id=signature.signer_id if signature else None,
            payload_sha256=signature.payload_sha256 if signature else None,
            model_status=model.status.value,
        ),
        metrics_endpoint=f"/serve/{command.deploy_id}/metrics",
        replaces=stable.deploy_id if stable is not None else None,
        reason=command.reason or "deploy requested",
    )


def _arm(name: str, record: DeploymentRecord, weight: int) -> TrafficArm:
    return TrafficArm(
        name=name, deploy_id=record.deploy_id, model_id=record.model_id, weight=weight
    )


def stable_split(stable: DeploymentRecord) -> list[TrafficArm]:
    """All of the route to ``stable``."""
    return [_arm("stable", stable, 100)]


def step_split(
    stable: DeploymentRecord, canary: DeploymentRecord, percent: int
) -> list[TrafficArm]:
    """A canary step: ``percent`` to the canary, as much to the baseline, the rest stable."""
    arms = [_arm("baseline", stable, percent), _arm("canary", canary, percent)]
    rest = 100 - 2 * percent
    return ([_arm("stable", stable, rest)] if rest > 0 else []) + arms


def first_split(
    record: DeploymentRecord, stable: DeploymentRecord | None
) -> tuple[list[TrafficArm], DeploymentStatus, int]:
    """The split a ready deployment takes the route with, its new status and step."""
    config = record.canary_config
    if stable is None or config is None:
        return [_arm("stable", record, 100)], DeploymentStatus.SERVING, -1
    if config.strategy is Strategy.AB:
        p = config.ab_percent
        return [_arm("a", stable, 100 - p), _arm("b", record, p)], DeploymentStatus.CANARY, 0
    if config.strategy is Strategy.SHADOW:
        return stable_split(stable), DeploymentStatus.CANARY, 0
    return step_split(stable, record, config.steps[0]), DeploymentStatus.CANARY, 0


def promoted_split(record: DeploymentRecord) -> list[TrafficArm]:
    """The canary took every step: all of the route to it, as the new stable."""
    return [_arm("stable", record, 100)]
