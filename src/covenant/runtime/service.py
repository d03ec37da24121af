"""Running workers as a process: start-up, signals, metrics endpoint, draining."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Coroutine, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server

from covenant.bus.protocol import Bus
from covenant.errors import BusError
from covenant.events.codec import Codec
from covenant.runtime.metrics import WorkerMetrics
from covenant.runtime.runner import RunnerOptions, WorkerRunner
from covenant.runtime.worker import Worker
from covenant.topics import ALL_TOPICS

log = logging.getLogger(__name__)


async def run_workers(
    workers: Sequence[Worker],
    *,
    bus: Bus,
    codec: Codec,
    stop: asyncio.Event,
    registry: CollectorRegistry | None = None,
    options: RunnerOptions | None = None,
) -> None:
    """Run ``workers`` concurrently until ``stop`` is set or one of them fails.

    Topics are created first (idempotently). A failing worker stops the others,
    so a supervisor restarts the process instead of running half a platform.
    """
    await bus.ensure_topics(ALL_TOPICS)
    metrics = WorkerMetrics.create(registry or CollectorRegistry())
    runners = [
        WorkerRunner(w, bus=bus, codec=codec, metrics=metrics, options=options) for w in workers
    ]
    await run_together([r.run(stop) for r in runners], stop)


async def run_together(coros: Sequence[Coroutine[Any, Any, object]], stop: asyncio.Event) -> None:
    """Run ``coros`` until ``stop`` is set or one of them fails; then set ``stop``
    so the others finish their batch, wait for them, and raise the failure."""
    tasks = [asyncio.create_task(coro) for coro in coros]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)


def install_stop_signals(stop: asyncio.Event) -> None:
    """SIGTERM and SIGINT set ``stop``: the batch in hand commits, then we exit."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


def serve_metrics(port: int, registry: CollectorRegistry) -> None:
    """Expose ``/metrics`` for Prometheus on ``port`` (0 = none)."""
    if port:
        start_http_server(port, registry=registry)
        log.info("metrics on http://127.0.0.1:%d/metrics", port)


async def wait_until_drained(
    bus: Bus, workers: Sequence[Worker], *, timeout_s: float = 60.0
) -> bool:
    """Wait until every worker's group has committed up to the end of its inputs;
    used by the demo and tests, which publish a known set and then look."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        behind = False
        for worker in workers:
            for topic in worker.inputs:
                try:
                    ends = await bus.end_offsets(topic)
                    done = await bus.committed(group=worker.name, topic=topic)
                except BusError as exc:
                    if not exc.retriable:
                        raise
                    behind = True  # e.g. the group coordinator is still loading
                    continue
                if any(done.get(p, 0) < end for p, end in ends.items()):
                    behind = True
        if not behind:
            return True
        await asyncio.sleep(0.05)
    return False
