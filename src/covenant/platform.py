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
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry

from covenant.blobs import BlobStore, open_blobs
from covenant.bus import Bus, open_bus
from covenant.events.codec import Codec
from covenant.runtime.service import run_together, run_workers
from covenant.runtime.worker import RunnerOptions
from covenant.schemas import default_codec
from covenant.settings import Settings
from covenant.store import ReadStore, open_store
from covenant.store.projector import run_projection
from covenant.topics import ALL_TOPICS
from covenant.workers import Resources, build_workers


@dataclass(frozen=True)
class Platform:
    """The opened resources, for the parts that run on them."""

    settings: Settings
    bus: Bus
    blobs: BlobStore
    store: ReadStore
    codec: Codec


@contextlib.asynccontextmanager
async def open_platform(settings: Settings) -> AsyncIterator[Platform]:
    """Open log, artifact store and read store; topics are created idempotently."""
    async with (
        open_bus(settings.bus_url) as bus,
        open_blobs(settings.blobs_url) as blobs,
        open_store(settings.store_url) as store,
    ):
        await bus.ensure_topics(ALL_TOPICS)
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
        workers = build_workers(names, resources=Resources(blobs=platform.blobs))
        await run_workers(
            workers,
            bus=platform.bus,
            codec=platform.codec,
            stop=stop,
            registry=registry,
            options=options,
        )

    return run


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
            config=GatewayConfig.from_env(),
        )

    return run


async def audit_part(platform: Platform, stop: asyncio.Event) -> None:
    """The audit worker: every record into the Merkle tree, signed checkpoints."""
    from covenant.audit.worker import audit_signer, run_audit_worker

    await run_audit_worker(
        bus=platform.bus,
        codec=platform.codec,
        signer=audit_signer(platform.settings),
        stop=stop,
    )
