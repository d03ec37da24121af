"""The whole platform in one process: what ``covenant up`` and the demo run.

Opens the log, the artifact store and the read store named by the settings, then
runs every worker, the projector and (optionally) the HTTP gateway until ``stop``
is set. A failing part stops the rest: a supervisor restarts the process rather
than run half a platform.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry

from covenant import lazy_workers
from covenant.blobs import BlobStore, open_blobs
from covenant.bus import Bus, open_bus
from covenant.catalog.workers import (
    make_artifacts_worker,
    make_datasets_worker,
    make_registry_worker,
)
from covenant.errors import ConfigError
from covenant.events.base import Message
from covenant.events.codec import Codec
from covenant.events.contract import default_codec
from covenant.lineage.worker import make_openlineage_worker
from covenant.policy import load_policies, make_policy_worker
from covenant.promotion import load_approvers, make_promotion_worker
from covenant.promotion.notary import make_notary_worker
from covenant.runtime.runner import RunnerOptions
from covenant.runtime.service import run_together, run_workers
from covenant.runtime.worker import Worker
from covenant.settings import Settings
from covenant.signing import Signer
from covenant.store import ReadStore, open_store
from covenant.store.projector import run_projection
from covenant.topics import ALL_TOPICS, deployed
from covenant.training.allocator import make_allocator_worker
from covenant.training.metrics import TrainingMetrics
from covenant.training.pools import Pools, default_pools, pools_for
from covenant.training.runner import RunnerSettings
from covenant.training.worker import make_training_worker

if TYPE_CHECKING:
    from covenant.audit.worker import AuditOptions
    from covenant.training.executors.protocol import Executor


@dataclass(frozen=True)
class Resources:
    """What workers may need besides the log: the artifact store, the compute
    pools, and which executors this deployment runs."""

    blobs: BlobStore | None = None
    pools: Pools = field(default_factory=default_pools)
    executors: tuple[str, ...] = ("local",)
    default_executor: str = "local"
    registry: CollectorRegistry | None = None
    policies_path: Path | None = None
    approvers_path: Path | None = None
    signer: Signer | None = None
    #: (window rows, window seconds, alpha, resamples, alert windows), from the
    #: ``COVENANT_DRIFT_*`` settings; plain values, so building resources imports no numpy.
    drift_options: tuple[int, float | None, float, int, int] | None = None

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        blobs: BlobStore | None = None,
        registry: CollectorRegistry | None = None,
    ) -> Resources:
        """The resources ``settings`` name (the pools file is read here, once)."""
        kinds = ("local", "ray") if settings.ray_address else ("local",)
        return cls(
            blobs=blobs,
            pools=pools_for(settings.pools_path),
            executors=kinds,
            default_executor=settings.default_executor,
            registry=registry,
            policies_path=settings.policies_path,
            approvers_path=settings.approvers_path,
            drift_options=(
                settings.drift_window_rows,
                settings.drift_window_s,
                settings.drift_alpha,
                settings.drift_resamples,
                settings.drift_alert_windows,
            ),
        )

    def require_blobs(self) -> BlobStore:
        if self.blobs is None:
            raise ConfigError("the artifacts worker needs an artifact store (COVENANT_BLOBS)")
        return self.blobs

    def require_signer(self) -> Signer:
        if self.signer is None:
            raise ConfigError("the notary worker needs a signer (COVENANT_SIGNER)")
        return self.signer


# The composition root decides which workers exist; no capability module imports
# the others. A new capability adds its factory here.
_FACTORIES: dict[str, Callable[[Resources], Worker]] = {
    "datasets": lambda _: make_datasets_worker(),
    "registry": lambda _: make_registry_worker(),
    "artifacts": lambda r: make_artifacts_worker(r.require_blobs()),
    "openlineage": lambda _: make_openlineage_worker(),
    "policy": lambda r: make_policy_worker(load_policies(r.policies_path)),
    "allocator": lambda r: make_allocator_worker(r.pools),
    "training": lambda r: make_training_worker(
        pools=r.pools,
        executors=r.executors,
        default_executor=r.default_executor,
        metrics=TrainingMetrics.create(r.registry),
    ),
    "promotion": lambda r: make_promotion_worker(approvers=load_approvers(r.approvers_path)),
    # One key (COVENANT_SIGNER) signs manifests and audit checkpoints alike, so every
    # manifest vouches for the audit key its offline bundle's proofs verify under.
    "notary": lambda r: make_notary_worker(
        r.require_signer(), audit_key_id=r.require_signer().key_id, blobs=r.blobs
    ),
    "evaluation": lazy_workers.evaluation_worker,
    "serving": lazy_workers.serving_worker,
    "drift": lazy_workers.drift_worker,
}
WORKER_NAMES: tuple[str, ...] = tuple(_FACTORIES)


def build_workers(
    names: Sequence[str] | None = None, *, resources: Resources | None = None
) -> list[Worker]:
    """Fresh workers, all of them or those named.

    Raises:
        KeyError: naming the known workers, for an unknown name.
        ConfigError: a worker needs a resource that was not given.
    """
    chosen = list(names) if names is not None else list(WORKER_NAMES)
    unknown = [n for n in chosen if n not in _FACTORIES]
    if unknown:
        raise KeyError(f"unknown worker {unknown[0]!r}; known: {', '.join(WORKER_NAMES)}")
    given = resources or Resources()
    return [_FACTORIES[name](given) for name in chosen]


@dataclass(frozen=True)
class Platform:
    """The opened resources, for the parts that run on them."""

    settings: Settings
    bus: Bus
    blobs: BlobStore
    store: ReadStore
    codec: Codec

    async def publish(self, *messages: Message) -> None:
        """Append ``messages`` to their topics, keyed by subject; durable on return."""
        await self.bus.publish([self.codec.outgoing(m) for m in messages])


@contextlib.asynccontextmanager
async def open_platform(settings: Settings) -> AsyncIterator[Platform]:
    """Open log, artifact store and read store; topics are created idempotently."""
    async with (
        open_bus(settings.bus_url) as bus,
        open_blobs(settings.blobs_url) as blobs,
        open_store(settings.store_url) as store,
    ):
        await bus.ensure_topics(deployed(ALL_TOPICS, partitions=settings.partitions))
        yield Platform(settings, bus, blobs, store, default_codec())


Part = Callable[[Platform, asyncio.Event], Coroutine[Any, Any, object]]


async def run_parts(platform: Platform, parts: Sequence[Part], stop: asyncio.Event) -> None:
    """Run ``parts`` until ``stop`` is set or one fails (then the others stop too)."""
    await run_together([part(platform, stop) for part in parts], stop)


def workers_part(
    names: Sequence[str] | None = None,
    *,
    registry: CollectorRegistry | None = None,
    options: RunnerOptions | None = None,
) -> Part:
    """The stream workers (all, or those named)."""

    async def run(platform: Platform, stop: asyncio.Event) -> None:
        resources = Resources.from_settings(platform.settings, platform.blobs, registry)
        chosen = list(names) if names is not None else list(WORKER_NAMES)
        async with contextlib.AsyncExitStack() as stack:
            if "notary" in chosen:  # only the notary holds a signing key (or a session)
                from covenant.signing.config import open_signer

                signer = await stack.enter_async_context(open_signer(platform.settings))
                resources = replace(resources, signer=signer)
            await run_workers(
                build_workers(chosen, resources=resources),
                bus=platform.bus,
                codec=platform.codec,
                stop=stop,
                registry=registry,
                options=options,
            )

    return run


def promotion_clock_part(platform: Platform, stop: asyncio.Event) -> Coroutine[Any, Any, None]:
    """The promotion clock: fails closed the promotions whose policy answer is late."""
    from covenant.promotion.clock import PromotionClock

    timeout = float(platform.settings.policy_timeout_s)
    return PromotionClock(bus=platform.bus, codec=platform.codec, timeout_s=timeout).run(stop)


def serving_part(platform: Platform, stop: asyncio.Event) -> Coroutine[Any, Any, None]:
    """The serving agent with the local runtime and the router (``COVENANT_ROUTER_URL``),
    or on the kubernetes runtime (``COVENANT_SERVING_RUNTIME``)."""
    from covenant.serving.part import run_kubernetes_serving, run_local_serving

    run = run_kubernetes_serving if platform.settings.serving_runtime == "kubernetes" else None
    if run is not None:
        return run(
            settings=platform.settings,
            bus=platform.bus,
            codec=platform.codec,
            blobs=platform.blobs,
            stop=stop,
        )
    return run_local_serving(
        settings=platform.settings,
        bus=platform.bus,
        codec=platform.codec,
        blobs=platform.blobs,
        stop=stop,
    )


async def projector_part(platform: Platform, stop: asyncio.Event) -> None:
    """The read-model projector."""
    await run_projection(bus=platform.bus, store=platform.store, codec=platform.codec, stop=stop)


def gateway_part(*, host: str, port: int) -> Part:
    """The HTTP gateway, sharing the platform's log and stores."""

    async def run(platform: Platform, stop: asyncio.Event) -> None:
        from covenant.gateway import GatewayConfig, run_gateway

        await run_gateway(
            bus=platform.bus,
            store=platform.store,
            blobs=platform.blobs,
            codec=platform.codec,
            stop=stop,
            host=host,
            port=port,
            config=GatewayConfig.from_settings(platform.settings),
        )

    return run


def audit_part(options: AuditOptions | None = None) -> Part:
    """The audit worker: every record into the Merkle tree, signed checkpoints
    (``options`` tune how often; the demo checkpoints promptly) by the signer
    ``COVENANT_SIGNER`` names (``covenant.signing.config``; the dev key by default)."""

    async def run(platform: Platform, stop: asyncio.Event) -> None:
        from covenant.audit.worker import run_audit_worker
        from covenant.signing.config import open_signer

        async with open_signer(platform.settings) as signer:
            await run_audit_worker(
                bus=platform.bus,
                codec=platform.codec,
                signer=signer,
                stop=stop,
                options=options,
            )

    return run


def runner_part(settings: RunnerSettings | None = None) -> Part:
    """The runner: starts, observes and stops training runs on the executors the
    settings configure (``local`` always, ``ray`` with ``COVENANT_RAY``)."""

    async def run(platform: Platform, stop: asyncio.Event) -> None:
        from covenant.training.executors.local import LocalExecutor
        from covenant.training.runner import Runner

        config = platform.settings
        executors: dict[str, Executor] = {
            "local": LocalExecutor(config.home / "runs", config.blobs_url)
        }
        if config.ray_address:
            from covenant.training.executors.ray import RayExecutor

            executors["ray"] = RayExecutor(config.ray_address, config.blobs_url)
        chosen = settings or RunnerSettings(policy_timeout_s=float(config.policy_timeout_s))
        try:
            await Runner(
                bus=platform.bus,
                codec=platform.codec,
                blobs=platform.blobs,
                executors=executors,
                settings=chosen,
            ).run(stop)
        finally:
            for executor in executors.values():
                await executor.aclose()

    return run
