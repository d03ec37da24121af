"""The serving agent: makes a runtime match the deployment records, and reports back.

A reconciler, not a stream worker: each tick it folds the serving facts, computes
what should run (:mod:`covenant.serving.desired`) and applies the difference to
the runtime in a fixed order — new replica sets first, then traffic splits, then
removals — so traffic only ever moves to replicas that answer and away from
replicas before they stop. Every runtime call is idempotent and keyed by the
replica set, so a restarted agent converges again from the log alone.

What it sees goes back on the log as commands for the serving worker: replica
readiness and refusals (``serve.observe``), canary windows with every sample
(``canary.observe``) and request rates (``serve.load``). At least once is enough:
the worker ignores an observation that changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from covenant.bus.protocol import Bus
from covenant.events.base import Message
from covenant.events.codec import Codec
from covenant.events.serving import (
    ArmSamples,
    DeploymentRecord,
    DeploymentStatus,
    ObserveCanary,
    ObserveLoad,
    ObserveReplicas,
)
from covenant.runtime.tables import GlobalTables
from covenant.serving.desired import ArtifactLocator, desired_routes, desired_versions
from covenant.serving.runtimes.protocol import RouteSpec, ServingRuntime, VersionSpec, VersionStatus
from covenant.serving.state import ServingState

__all__ = ["AgentOptions", "MeteredSamples", "ServingAgent", "TrafficMeter"]

log = logging.getLogger(__name__)
PRODUCER = "serving-agent"
M = TypeVar("M", bound=Message)


class MeteredSamples(Protocol):
    """One arm's samples, as a router records them."""

    latency_ms: list[float]
    error: list[float]
    accuracy: list[float]


class TrafficMeter(Protocol):
    """Where the agent reads per-arm samples (the local runtime's router)."""

    def take_samples(self, route: str) -> Mapping[str, MeteredSamples]:
        """Every sample per arm since the previous call (drained)."""
        ...


@dataclass(frozen=True)
class AgentOptions:
    """How often the agent looks, measures and reports."""

    interval_s: float = 0.25
    canary_window_s: float = 1.0
    load_window_s: float = 5.0


@dataclass
class ServingAgent:
    """Reconciles ``runtime`` to the log; reports readiness, samples and load."""

    bus: Bus
    codec: Codec
    runtime: ServingRuntime
    locate: ArtifactLocator
    meter: TrafficMeter | None = None
    options: AgentOptions = field(default_factory=AgentOptions)
    prepare: Callable[[Sequence[DeploymentRecord]], Awaitable[None]] | None = None
    state: ServingState = field(default_factory=ServingState)
    _applied: dict[str, VersionSpec] = field(default_factory=dict)
    _routes: dict[str, RouteSpec] = field(default_factory=dict)
    _reported: dict[tuple[str, str], tuple[int, tuple[str, ...], str | None]] = field(
        default_factory=dict
    )
    _last_canary: float = 0.0
    _last_load: float = 0.0
    _load: dict[str, int] = field(default_factory=dict)

    async def run(self, stop: asyncio.Event) -> None:
        """Reconcile until ``stop`` is set; the runtime is closed on the way out."""
        try:
            async with self.bus.table(self.state.topics) as reader:
                tables = GlobalTables(self.state, table=reader, codec=self.codec, worker=PRODUCER)
                await tables.rebuild()
                self._last_canary = self._last_load = time.monotonic()
                while not stop.is_set():
                    await tables.catch_up()
                    await self.tick()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self.options.interval_s)
        finally:
            await self.runtime.close()

    async def tick(self) -> None:
        """One reconciliation: apply, split, remove, then report."""
        deployments = self.state.deployments
        if self.prepare is not None:
            await self.prepare(list(deployments.values()))
        versions = desired_versions(deployments, self.locate)
        for key, spec in versions.items():
            if self._applied.get(key) != spec:
                await self.runtime.apply(spec)
                self._applied[key] = spec
        routes = desired_routes(deployments, self.state.splits, self.locate)
        for route, split in routes.items():
            if self._routes.get(route) != split:
                await self.runtime.route(split)
                self._routes[route] = split
        for key in [k for k in self._applied if k not in versions]:
            await self.runtime.remove(key)
            del self._applied[key]
        out: list[Message] = await self._replica_reports(versions)
        now = time.monotonic()
        if self.meter is not None and now - self._last_canary >= self.options.canary_window_s:
            out += self._canary_windows(now - self._last_canary)
            self._last_canary = now
        if now - self._last_load >= self.options.load_window_s:
            out += self._load_reports(now - self._last_load)
            self._last_load = now
        if out:
            await self.bus.publish([self.codec.outgoing(m) for m in out])

    async def _replica_reports(self, versions: Mapping[str, VersionSpec]) -> list[Message]:
        out: list[Message] = []
        for key, spec in versions.items():
            status = await self.runtime.status(key)
            if status is None:
                continue
            refused = _refusal(status)
            seen = (status.ready, status.endpoints, refused)
            if self._reported.get((spec.deploy_id, spec.role)) == seen:
                continue
            self._reported[(spec.deploy_id, spec.role)] = seen
            record = self.state.deployments[spec.deploy_id]
            out.append(
                _report(
                    ObserveReplicas,
                    deploy_id=spec.deploy_id,
                    route=record.route,
                    role=spec.role,
                    desired=status.desired,
                    ready=status.ready,
                    endpoints=list(status.endpoints),
                    refused=refused,
                    reason=status.message,
                )
            )
        return out

    def _canary_windows(self, window_s: float) -> list[Message]:
        """One window per route: the canary's analysis, or the stable's load."""
        assert self.meter is not None
        out: list[Message] = []
        live: dict[str, list[DeploymentRecord]] = {}
        for record in self.state.deployments.values():
            if record.status in (DeploymentStatus.CANARY, DeploymentStatus.SERVING):
                live.setdefault(record.route, []).append(record)
        for route, records in live.items():
            taken = self.meter.take_samples(route)
            canary = next((r for r in records if r.status is DeploymentStatus.CANARY), None)
            if canary is None:
                stable = records[-1]
                count = sum(len(s.latency_ms) for s in taken.values())
                self._load[stable.deploy_id] = self._load.get(stable.deploy_id, 0) + count
                continue
            arms = [
                ArmSamples(
                    arm=name,
                    deploy_id=canary.deploy_id,
                    latency_ms=list(s.latency_ms),
                    error=list(s.error),
                    accuracy=list(s.accuracy),
                )
                for name, s in sorted(taken.items())
                if s.latency_ms
            ]
            if arms:
                out.append(
                    _report(
                        ObserveCanary,
                        deploy_id=canary.deploy_id,
                        route=route,
                        step=canary.step,
                        window_s=window_s,
                        arms=arms,
                    )
                )
        return out

    def _load_reports(self, window_s: float) -> list[Message]:
        out: list[Message] = []
        for deploy_id, count in self._load.items():
            record = self.state.deployments.get(deploy_id)
            if record is None or record.status is not DeploymentStatus.SERVING:
                continue
            out.append(
                _report(
                    ObserveLoad,
                    deploy_id=deploy_id,
                    route=record.route,
                    requests_per_s=count / window_s,
                    window_s=window_s,
                )
            )
        self._load.clear()
        return out


def _report(cls: type[M], **body: Any) -> M:
    """An observation of the agent's, keyed by its route as the serving worker reads it."""
    message: M = cls.create(
        subject=f"route:{body['route']}", actor="covenant", producer=PRODUCER, **body
    )
    return message


def _refusal(status: VersionStatus) -> str | None:
    """A replica set that will not start because its server refused the model says
    so in its message as ``refused:<code>: <reason>``."""
    if status.message.startswith("refused:"):
        return status.message.split(":", 2)[1]
    return None
