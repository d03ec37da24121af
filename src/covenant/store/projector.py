"""The projector: follows the event topics and applies them to a read store.

Exactly-once across two systems (the log and the store) comes from keeping the
offsets in the store, written in the same transaction as the rows (``ReadStore.apply``);
the log's consumer groups are not used at all. On start the projector reads the
store's offsets, follows the log from the beginning and drops what lies below them,
and the store drops again anything a batch repeats. So a SIGKILL at any instant
loses nothing (the offsets did not move) and duplicates nothing (they did).

Records that cannot be projected are not retried forever and not dropped silently:

* Undecodable bytes. Event topics carry only records our workers wrote through the
  codec, so this means a writer outside the contract or a schema this process does
  not know (an older projector reading a newer writer). The record is logged at
  WARNING, counted, and recorded with its position in the store (``skip``), which
  moves the offset past it; after an upgrade, ``rebuild`` projects it.
* Events the store refuses (``StoreError`` with ``retriable=False``, e.g. a NaN
  metric). The batch is retried one event at a time to find it; it is logged at
  ERROR, counted and recorded the same way, and the rest is applied.

Retriable store errors (a restarting database) are retried with backoff until they
clear or a stop is asked for; errors of the log end the run, for a supervisor to
restart it.

Run it as its own process with ``python -m covenant.store.projector --bus URL
--store URL``; SIGTERM or SIGINT finishes the batch in hand and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import Sequence
from datetime import datetime

from covenant.bus import closing, open_bus
from covenant.bus.protocol import Bus, Record, TopicPartition
from covenant.errors import BusError, CovenantError
from covenant.events.codec import Codec
from covenant.store import open_store
from covenant.store._projection import Projection, ProjectionStats, StopRequestedError
from covenant.store.protocol import ReadStore
from covenant.topics import (
    ARTIFACT_EVENTS,
    DATASET_EVENTS,
    MODEL_EVENTS,
    PROMOTION_EVENTS,
    Topic,
)

__all__ = [
    "PROJECTED_TOPICS",
    "ProjectionStats",
    "main",
    "rebuild",
    "run_projection",
    "wait_caught_up",
]

log = logging.getLogger("covenant.store.projector")

PROJECTED_TOPICS: tuple[Topic, ...] = (
    DATASET_EVENTS,
    ARTIFACT_EVENTS,
    MODEL_EVENTS,
    PROMOTION_EVENTS,
)
_IDLE_WAIT_S = 0.2


async def run_projection(
    *,
    bus: Bus,
    store: ReadStore,
    codec: Codec,
    stop: asyncio.Event,
    name: str = "projections",
    topics: Sequence[Topic] = PROJECTED_TOPICS,
    batch_size: int = 500,
) -> ProjectionStats:
    """Follow ``topics`` into ``store`` until ``stop`` is set; the batch in hand is
    finished first. Returns what this run did.

    Raises:
        BusError: the log failed; nothing half-applied is left behind.
        StoreError: the store failed in a way retrying cannot fix.
    """
    await bus.ensure_topics(topics)
    start = await store.offsets(projection=name)
    queue: asyncio.Queue[Record] = asyncio.Queue(maxsize=batch_size * 2)
    reader = asyncio.create_task(_follow(bus, topics, start, queue), name=f"{name}-reader")
    projection = Projection(store=store, codec=codec, name=name, stop=stop)
    log.info("projection started: %s over %s", name, ", ".join(t.name for t in topics))
    try:
        while not stop.is_set():
            batch = await _next_batch(queue, reader, batch_size)
            if batch:
                await projection.project(batch)
    except StopRequestedError:
        pass
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    log.info("projection stopped: %s (%s)", name, projection.stats)
    return projection.stats


async def _follow(
    bus: Bus,
    topics: Sequence[Topic],
    start: dict[TopicPartition, int],
    queue: asyncio.Queue[Record],
) -> None:
    async with closing(bus.read(topics, follow=True)) as records:
        async for record in records:
            if record.offset >= start.get((record.topic, record.partition), 0):
                await queue.put(record)


async def _next_batch(
    queue: asyncio.Queue[Record], reader: asyncio.Task[None], batch_size: int
) -> list[Record]:
    """Up to ``batch_size`` records: whatever is ready once the first arrives, so a
    backlog goes in large batches and a trickle with little delay."""
    if reader.done():
        reader.result()  # raises the log's error
        raise BusError("the log reader stopped following")
    try:
        first = await asyncio.wait_for(queue.get(), timeout=_IDLE_WAIT_S)
    except TimeoutError:
        return []
    batch = [first]
    while len(batch) < batch_size and not queue.empty():
        batch.append(queue.get_nowait())
    return batch


async def rebuild(
    *,
    bus: Bus,
    store: ReadStore,
    codec: Codec,
    name: str = "projections",
    topics: Sequence[Topic] = PROJECTED_TOPICS,
    batch_size: int = 500,
    until: datetime | None = None,
) -> ProjectionStats:
    """Drop every read model and project the log again up to its current end, or
    only the records the log held at ``until`` (by their log timestamp): the read
    models as they were at that moment, for an auditor.

    Stop the projector first: a projector still running would keep writing into
    the tables being dropped.
    """
    limit_ms = None if until is None else int(until.timestamp() * 1000)
    await bus.ensure_topics(topics)
    await store.reset()
    projection = Projection(store=store, codec=codec, name=name, stop=asyncio.Event())
    batch: list[Record] = []
    async with closing(bus.read(topics)) as records:
        async for record in records:
            if limit_ms is not None and record.timestamp_ms > limit_ms:
                continue
            batch.append(record)
            if len(batch) >= batch_size:
                await projection.project(batch)
                batch = []
    await projection.project(batch)
    return projection.stats


async def wait_caught_up(
    *,
    bus: Bus,
    store: ReadStore,
    name: str = "projections",
    topics: Sequence[Topic] = PROJECTED_TOPICS,
    timeout_s: float = 60.0,
) -> bool:
    """Wait until the store has projected every record the log holds now.

    The target is the last record's offset + 1 per partition, read from the log,
    not the end offset: on Kafka, transaction markers take offsets no record has.
    """
    targets: dict[TopicPartition, int] = {}
    async with closing(bus.read(topics)) as records:
        async for record in records:
            targets[(record.topic, record.partition)] = record.offset + 1
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        done = await store.offsets(projection=name)
        if all(done.get(tp, 0) >= n for tp, n in targets.items()):
            return True
        if asyncio.get_running_loop().time() >= deadline:
            return False
        await asyncio.sleep(0.05)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m covenant.store.projector``: run one projection as a process."""
    from covenant.events.contract import default_codec
    from covenant.runtime.service import install_stop_signals
    from covenant.settings import Settings

    settings = Settings.from_env()
    parser = argparse.ArgumentParser(
        prog="python -m covenant.store.projector",
        description="Project the event topics into a read store, exactly once.",
    )
    parser.add_argument("--bus", default=settings.bus_url, help="log URL (default COVENANT_BUS)")
    parser.add_argument(
        "--store",
        default=settings.store_url,
        help="read-store URL (default COVENANT_STORE): sqlite:///path or postgresql://…",
    )
    parser.add_argument("--name", default="projections", help="projection name (offsets key)")
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    async def serve() -> None:
        stop = asyncio.Event()
        install_stop_signals(stop)
        async with open_bus(args.bus) as bus, open_store(args.store) as store:
            await run_projection(
                bus=bus,
                store=store,
                codec=default_codec(),
                stop=stop,
                name=args.name,
                batch_size=args.batch_size,
            )

    try:
        asyncio.run(serve())
    except CovenantError as exc:
        log.error("projection failed: %s", exc)
        sys.exit(1)


if __name__ == "__main__":
    main()
