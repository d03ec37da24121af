"""The serving-runtime port: where a deployment's model-server replicas run.

Two adapters live beside this file: ``local`` (the embedded default: supervised
model-server processes on this machine behind Covenant's router) and
``kubernetes`` (a Deployment, a Service and an HPA per version, traffic weights
as a Gateway API ``HTTPRoute``). Both pass ``tests/conformance/test_serving_runtime.py``.

Every call is idempotent and keyed by what it names (the deployment and version),
because the serving worker may repeat one after a crash: applying the same spec
twice changes nothing, removing what is gone is not an error.

A route's weights name *arms*, not replicas: ``stable`` (the version taking the
traffic today), ``canary`` (the version under analysis) and ``baseline`` (fresh
replicas of the stable version at the canary's size, so the canary is compared
with a baseline of its own age and load, as Kayenta does), or ``a``/``b`` for an
A/B split. The runtime maps each arm to its version's replicas. A deployment's own
replicas have the role ``stable`` from start to end (promoting a canary must not
restart them); a canary's baseline replicas have the role ``baseline``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "Arm",
    "RouteSpec",
    "ServingRuntime",
    "ShadowSpec",
    "VersionSpec",
    "VersionStatus",
]


@dataclass(frozen=True, slots=True)
class Arm:
    """One weighted destination of a route: a set of replicas of one version."""

    name: str  # stable | baseline | canary | a | b
    version_key: str  # VersionSpec.key of the replicas that serve it
    weight: int  # percent, 0..100; a route's weights sum to 100


@dataclass(frozen=True, slots=True)
class ShadowSpec:
    """Sampled shadow traffic: a copy of ``sample_rate`` of requests, answers discarded."""

    version_key: str
    sample_rate: float  # 0 < rate <= 1


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """How a route's traffic is split. ``sticky_key`` names the request header whose
    hash picks the arm (A/B: one key, one arm, always); without it each request is
    drawn by weight."""

    route: str
    arms: tuple[Arm, ...]
    shadow: ShadowSpec | None = None
    sticky_key: str | None = None


@dataclass(frozen=True, slots=True)
class VersionSpec:
    """One model version's replicas for one deployment.

    ``artifact_uri`` is where the replica loads the model from (a file path for
    ``local``, a URI the image can read for ``kubernetes``); the server checks it
    against ``artifact_digest`` and, in staging and prod, against the signed
    manifest before it loads it.
    """

    deploy_id: str
    model_id: str  # family:version
    env: str  # sandbox | staging | prod
    artifact_uri: str
    artifact_digest: str  # sha256:<hex>
    replicas: int
    role: str = "stable"  # stable (the deployment's own) | baseline (of a canary)
    manifest_uri: str | None = None  # the DSSE envelope the server verifies first
    node_pool: str = "default"
    cpu: str = "500m"
    memory: str = "512Mi"
    min_replicas: int = 1
    max_replicas: int = 4
    target_rps_per_replica: float = 50.0
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The name of these replicas, unique per deployment, version and role; safe
        as a Kubernetes object name (lower case, digits and dashes)."""
        version = self.model_id.rsplit(":", 1)[-1]
        raw = f"{self.deploy_id}-{version}-{self.role}".lower()
        return "".join(c if c.isalnum() else "-" for c in raw).strip("-")[:63]


@dataclass(frozen=True, slots=True)
class VersionStatus:
    """What the runtime reports for one ``VersionSpec``: the replicas asked for,
    those ready to take traffic (a pre-warmed, answering replica), and where the
    version can be reached."""

    key: str
    desired: int
    ready: int
    endpoints: tuple[str, ...] = ()
    message: str = ""


class ServingRuntime(Protocol):
    """Where model-server replicas run. All methods are idempotent."""

    name: str

    async def apply(self, spec: VersionSpec) -> VersionStatus:
        """Create or update the replicas of ``spec``; the same spec twice is a no-op."""
        ...

    async def scale(self, key: str, replicas: int) -> VersionStatus:
        """Set the replica count of an applied version.

        Raises:
            KeyError: no version ``key`` has been applied.
        """
        ...

    async def route(self, spec: RouteSpec) -> None:
        """Set a route's traffic split, atomically: no request is dropped or sent to
        an arm that is no longer in the split once this returns."""
        ...

    async def routes(self, route: str) -> RouteSpec | None:
        """The split in force for ``route``, as the runtime stores it."""
        ...

    async def status(self, key: str) -> VersionStatus | None:
        """The status of version ``key``; None when it is not applied."""
        ...

    async def remove(self, key: str) -> None:
        """Remove version ``key`` and everything created for it; absent is fine."""
        ...

    async def remove_route(self, route: str) -> None:
        """Remove a route; absent is fine."""
        ...

    async def close(self) -> None:
        """Release connections (and, for ``local``, stop the replicas)."""
        ...
