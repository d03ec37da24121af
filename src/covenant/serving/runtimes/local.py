"""The ``local`` serving runtime (the embedded default): model-server processes on
this machine, supervised, behind Covenant's router.

Each replica set is a :class:`~covenant.serving.local.supervisor.ReplicaPool`: its
processes load the model, answer a warm-up request and only then count as ready;
a dead one is replaced. A route is a :class:`~covenant.dataplane.router.RouterTable`
of the pools' ready endpoints, swapped atomically whenever the split or a pool's
ready set changes, so traffic follows replicas as they come and go.

Given a ``samples_bus`` and a ``sample_rate`` above 0, a deployment's own replicas
(role ``stable``) publish that share of their answered rows to the drift samples
topic, tagged with the route and deployment. A canary's baseline replicas do not:
they serve the stable version under the canary's deployment id, and the stable
deployment's own replicas already sample that version.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from pathlib import Path

from covenant.dataplane.router import Router, RouterArm, RouterShadow, RouterTable
from covenant.dataplane.router.samples import ArmSamples
from covenant.serving.local.supervisor import ReplicaPool, ServerSpec
from covenant.serving.runtimes.protocol import RouteSpec, VersionSpec, VersionStatus

__all__ = ["LocalRuntime"]

log = logging.getLogger(__name__)


class LocalRuntime:
    """Supervised local model servers and the router in front of them."""

    name = "local"

    def __init__(
        self,
        *,
        router: Router,
        trusted_keys: tuple[Path, ...] = (),
        threads: int = 1,
        samples_bus: str | None = None,
        sample_rate: float = 0.0,
    ) -> None:
        self.router = router
        self._trusted = trusted_keys
        self._threads = threads
        self._samples_bus = samples_bus
        self._sample_rate = sample_rate
        self._pools: dict[str, ReplicaPool] = {}
        self._specs: dict[str, VersionSpec] = {}
        self._routes: dict[str, RouteSpec] = {}
        self._scaling: dict[str, asyncio.Task[None]] = {}

    async def apply(self, spec: VersionSpec) -> VersionStatus:
        pool = self._pools.get(spec.key)
        if pool is None:
            sampled = spec.role == "stable" and self._samples_bus is not None
            pool = ReplicaPool(
                ServerSpec(
                    key=spec.key,
                    model_id=spec.model_id,
                    env=spec.env,
                    model_path=Path(spec.artifact_uri),
                    artifact_digest=spec.artifact_digest,
                    manifest_path=Path(spec.manifest_uri) if spec.manifest_uri else None,
                    trusted_keys=self._trusted,
                    threads=self._threads,
                    samples_bus=self._samples_bus if sampled else None,
                    sample_rate=self._sample_rate if sampled else 0.0,
                    route=spec.labels.get("route", ""),
                    deploy_id=spec.deploy_id,
                )
            )
            pool.on_change = lambda _endpoints, key=spec.key: self._refresh(key)
            self._pools[spec.key] = pool
        self._specs[spec.key] = spec
        self._start_scaling(spec.key, spec.replicas)
        return self._status(spec.key)

    def _start_scaling(self, key: str, replicas: int) -> None:
        """Replicas start in the background: a start takes seconds, and the agent
        reports readiness as it comes rather than waiting here."""
        previous = self._scaling.get(key)
        pool = self._pools[key]

        async def scale() -> None:
            if previous is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await previous
            try:
                await pool.scale(replicas)
            except Exception:
                log.exception("local runtime: scaling %s to %d failed", key, replicas)

        self._scaling[key] = asyncio.get_running_loop().create_task(scale())

    async def scale(self, key: str, replicas: int) -> VersionStatus:
        if key not in self._pools:
            raise KeyError(f"no replica set {key!r} is applied")
        self._specs[key] = _with_replicas(self._specs[key], replicas)
        self._start_scaling(key, replicas)
        return self._status(key)

    async def route(self, spec: RouteSpec) -> None:
        self._routes[spec.route] = spec
        self._push(spec.route)

    async def routes(self, route: str) -> RouteSpec | None:
        return self._routes.get(route)

    async def status(self, key: str) -> VersionStatus | None:
        return self._status(key) if key in self._pools else None

    def _status(self, key: str) -> VersionStatus:
        pool = self._pools[key]
        refusal = pool.refusal
        message = f"refused:{refusal.code}: {refusal.reason}" if refusal is not None else ""
        endpoints = pool.endpoints()
        return VersionStatus(
            key=key,
            desired=self._specs[key].replicas,
            ready=len(endpoints),
            endpoints=endpoints,
            message=message,
        )

    async def remove(self, key: str) -> None:
        pool = self._pools.pop(key, None)
        self._specs.pop(key, None)
        task = self._scaling.pop(key, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if pool is not None:
            await pool.close()

    async def remove_route(self, route: str) -> None:
        self._routes.pop(route, None)
        self.router.remove_table(route)

    def take_samples(self, route: str) -> Mapping[str, ArmSamples]:
        """The router's samples per arm since the last call (the agent's meter)."""
        return self.router.take_samples(route)

    def _refresh(self, key: str) -> None:
        for route, spec in self._routes.items():
            keys = {a.version_key for a in spec.arms}
            if spec.shadow is not None:
                keys.add(spec.shadow.version_key)
            if key in keys:
                self._push(route)

    def _push(self, route: str) -> None:
        spec = self._routes[route]
        arms = []
        for arm in spec.arms:
            pool = self._pools.get(arm.version_key)
            endpoints = pool.endpoints() if pool is not None else ()
            if arm.weight > 0 and not endpoints:
                log.warning("route %s: arm %s has no ready replica; split kept", route, arm.name)
                return
            version = self._specs[arm.version_key].model_id if pool is not None else ""
            arms.append(
                RouterArm(
                    name=arm.name,
                    weight=arm.weight,
                    endpoints=endpoints,
                    model_name=self._specs[arm.version_key].model_id.split(":")[0] if pool else "",
                    version=version,
                )
            )
        shadow = None
        target = self._pools.get(spec.shadow.version_key) if spec.shadow else None
        if spec.shadow is not None and target is not None and target.endpoints():
            shadow = RouterShadow(
                endpoints=target.endpoints(),
                model_name=self._specs[spec.shadow.version_key].model_id.split(":")[0],
                version=self._specs[spec.shadow.version_key].model_id,
                sample_rate=spec.shadow.sample_rate,
            )
        self.router.set_table(
            RouterTable(route=route, arms=tuple(arms), shadow=shadow, sticky_key=spec.sticky_key)
        )

    async def close(self) -> None:
        for key in list(self._pools):
            await self.remove(key)


def _with_replicas(spec: VersionSpec, replicas: int) -> VersionSpec:
    from dataclasses import replace

    return replace(spec, replicas=replicas)
