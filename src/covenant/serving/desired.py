"""What should run, from the deployment records: the agent's target, as pure values.

The serving agent reconciles a runtime to this, the way a Kubernetes controller
does: whatever it finds running, it applies what :func:`desired_versions` and
:func:`desired_routes` say, so a restarted agent (or a lost replica) converges
again without a log of what it did. The records name deployments; this maps them
to replica sets (``VersionSpec``) and splits of those sets (``RouteSpec``):

* every live deployment has its own replicas (role ``stable``);
* a canary, while pending or in canary, has baseline replicas too: the stable
  version's model at the canary's size (role ``baseline``, under the canary's id);
* a split's ``baseline`` arm names the stable deployment; it maps to the baseline
  replicas of the canary that replaces it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from covenant.events.serving import (
    TERMINAL,
    DeploymentRecord,
    DeploymentStatus,
    Strategy,
    TrafficShifted,
)
from covenant.serving.runtimes.protocol import Arm, RouteSpec, ShadowSpec, VersionSpec

__all__ = ["ArtifactLocator", "desired_routes", "desired_versions", "own_key"]

ArtifactLocator = Callable[[DeploymentRecord], tuple[str, str | None]]
"""Where a deployment's replicas load the model from, and its manifest (or None)."""


def _spec(
    record: DeploymentRecord, model: DeploymentRecord, role: str, locate: ArtifactLocator
) -> VersionSpec:
    uri, manifest = locate(model)
    res = record.resources
    return VersionSpec(
        deploy_id=record.deploy_id,
        model_id=model.model_id,
        env=model.env,
        artifact_uri=uri,
        artifact_digest=model.provenance.served_artifact_id,
        manifest_uri=manifest,
        replicas=res.replicas,
        role=role,
        node_pool=record.node_pool,
        cpu=res.cpu,
        memory=res.memory,
        min_replicas=res.min_replicas,
        max_replicas=res.max_replicas,
        target_rps_per_replica=res.target_rps_per_replica,
        labels={"route": record.route},
    )


def _baseline_of(
    record: DeploymentRecord, deployments: Mapping[str, DeploymentRecord]
) -> DeploymentRecord | None:
    config = record.canary_config
    if config is None or config.strategy is not Strategy.CANARY:
        return None
    if record.status not in (DeploymentStatus.PENDING, DeploymentStatus.CANARY):
        return None
    stable = deployments.get(record.replaces or "")
    if stable is None or stable.status is not DeploymentStatus.SERVING:
        return None
    return stable


def own_key(record: DeploymentRecord, locate: ArtifactLocator) -> str:
    """The replica-set key of a deployment's own replicas."""
    return _spec(record, record, "stable", locate).key


def desired_versions(
    deployments: Mapping[str, DeploymentRecord], locate: ArtifactLocator
) -> dict[str, VersionSpec]:
    """Every replica set that should run, by key."""
    out: dict[str, VersionSpec] = {}
    for record in deployments.values():
        if record.status in TERMINAL or record.status is DeploymentStatus.ROLLING_BACK:
            continue
        own = _spec(record, record, "stable", locate)
        out[own.key] = own
        stable = _baseline_of(record, deployments)
        if stable is not None:
            baseline = _spec(record, stable, "baseline", locate)
            out[baseline.key] = baseline
    return out


def desired_routes(
    deployments: Mapping[str, DeploymentRecord],
    splits: Mapping[str, TrafficShifted],
    locate: ArtifactLocator,
) -> dict[str, RouteSpec]:
    """Every route's split, as replica-set keys."""
    out: dict[str, RouteSpec] = {}
    for route, split in splits.items():
        arms: list[Arm] = []
        for arm in split.arms:
            record = deployments.get(arm.deploy_id)
            if record is None:
                continue
            if arm.name == "baseline":
                canary = next(
                    (
                        d
                        for d in deployments.values()
                        if d.route == route
                        and d.replaces == arm.deploy_id
                        and _baseline_of(d, deployments) is not None
                    ),
                    None,
                )
                if canary is None:
                    continue
                key = _spec(canary, record, "baseline", locate).key
            else:
                key = own_key(record, locate)
            arms.append(Arm(name=arm.name, version_key=key, weight=arm.weight))
        shadow = None
        target = deployments.get(split.shadow_deploy_id or "")
        if target is not None and split.shadow_rate and target.status not in TERMINAL:
            shadow = ShadowSpec(version_key=own_key(target, locate), sample_rate=split.shadow_rate)
        if arms and sum(a.weight for a in arms) == 100:
            out[route] = RouteSpec(
                route=route, arms=tuple(arms), shadow=shadow, sticky_key=split.sticky_key
            )
    return out
