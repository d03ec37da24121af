"""Helpers to test a service that reads or writes Covenant's log, on the real log.

No in-memory imitation: ``embedded_log`` opens the same SQLite log ``covenant up``
uses by default, in a folder the test owns, so what passes here passes against the
platform. Everything else takes any ``Bus``, so the same test can run on Kafka.

Waiting is bounded, never timed: every wait returns as soon as what it waits for
is there, and ``timeout_s`` only turns a hang into a failure that says what was
seen.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import aclosing, asynccontextmanager
from pathlib import Path
from typing import TypeVar

from covenant.bus import Bus, Position, closing, open_bus
from covenant.events.base import Message
from covenant.events.codec import Codec
from covenant.events.contract import default_codec
from covenant.runtime.runner import RunnerOptions
from covenant.runtime.service import run_workers, wait_until_drained
from covenant.runtime.worker import Worker
from covenant.topics import ALL_TOPICS, Topic

__all__ = ["collect", "drain", "embedded_log", "publish", "running", "wait_for"]

M = TypeVar("M", bound=Message)


@asynccontextmanager
async def embedded_log(
    folder: Path, *, name: str = "log.sqlite3", topics: Sequence[Topic] = ALL_TOPICS
) -> AsyncIterator[Bus]:
    """An open embedded log in ``folder`` (e.g. pytest's ``tmp_path``) with
    ``topics`` created, closed on exit. The file stays, so a test can open it again
    (or hand its URL, ``sqlite:///<folder>/<name>``, to a subprocess)."""
    async with open_bus(f"sqlite:///{folder / name}") as bus:
        await bus.ensure_topics(topics)
        yield bus


async def publish(bus: Bus, *messages: Message, codec: Codec | None = None) -> list[Position]:
    """Encode ``messages`` (with ``codec``, else the default codec) and append them,
    each to its type's topic keyed by its subject, as Covenant's producers do;
    returns once they are durable, with where each landed."""
    writer = codec or default_codec()
    return await bus.publish([writer.outgoing(m) for m in messages])


def _seen(messages: Sequence[Message]) -> str:
    if not messages:
        return "nothing"
    shown = ", ".join(f"{m.meta.type} {m.meta.subject}" for m in messages[-5:])
    return f"{len(messages)} record(s), the last: {shown}"


async def _decoded(
    bus: Bus, topics: Sequence[Topic], *, follow: bool, codec: Codec
) -> AsyncGenerator[Message, None]:
    """``bus.read`` decoded, and the read closed however the caller stops (a Kafka
    read holds a consumer)."""
    async with closing(bus.read(topics, follow=follow)) as records:
        async for record in records:
            yield codec.decode(record.value)


async def collect(
    bus: Bus,
    topics: Topic | Sequence[Topic],
    *,
    until: Callable[[Sequence[Message]], bool] | None = None,
    timeout_s: float = 30.0,
    codec: Codec | None = None,
) -> list[Message]:
    """The decoded records of ``topics`` from the beginning.

    Without ``until``: what is on them now. With ``until``: keep reading, as records
    arrive, until ``until(records so far)`` is true (``lambda ms: len(ms) >= 3``).
    Records of one partition come in order; there is no order between partitions.

    Raises:
        TimeoutError: ``until`` was still false after ``timeout_s``; says what came.
        ContractError: a record that does not decode, since a test should not skip it.
    """
    reader = codec or default_codec()
    wanted = [topics] if isinstance(topics, Topic) else list(topics)
    seen: list[Message] = []
    if until is None:
        async with aclosing(_decoded(bus, wanted, follow=False, codec=reader)) as messages:
            return [m async for m in messages]
    if until(seen):
        return seen
    try:
        async with (
            asyncio.timeout(timeout_s),
            aclosing(_decoded(bus, wanted, follow=True, codec=reader)) as messages,
        ):
            async for message in messages:
                seen.append(message)
                if until(seen):
                    return seen
    except TimeoutError:
        raise TimeoutError(f"not done after {timeout_s}s; read {_seen(seen)}") from None
    raise AssertionError("a followed read ended")  # pragma: no cover - follow never ends


async def wait_for(
    bus: Bus,
    kind: type[M],
    predicate: Callable[[M], bool] = lambda _: True,
    *,
    timeout_s: float = 30.0,
    codec: Codec | None = None,
) -> M:
    """The first ``kind`` record on its topic (from the beginning) for which
    ``predicate`` is true, waiting for it to arrive if need be::

        cleared = await wait_for(bus, DatasetCleared, lambda e: e.dataset_id == "d1")

    Raises:
        TimeoutError: none came within ``timeout_s``; says what came instead.
    """
    found: list[M] = []

    def done(messages: Sequence[Message]) -> bool:
        last = messages[-1] if messages else None
        if isinstance(last, kind) and predicate(last):
            found.append(last)
        return bool(found)

    try:
        await collect(bus, kind.TOPIC, until=done, timeout_s=timeout_s, codec=codec)
    except TimeoutError as exc:
        raise TimeoutError(f"wait_for {kind.TYPE}: {exc}") from None
    return found[0]


async def drain(bus: Bus, workers: Sequence[Worker], *, timeout_s: float = 60.0) -> None:
    """Wait until every worker's group has committed up to the end of its inputs,
    i.e. has handled everything published so far.

    On Kafka a commit's outputs become readable a moment after it returns (see
    ``GroupConsumer.commit``), so read what the workers wrote with ``wait_for`` or
    ``collect(..., until=...)``, which wait for it, rather than a bare ``collect``.

    Raises:
        TimeoutError: a worker was still behind after ``timeout_s``.
    """
    if not await wait_until_drained(bus, workers, timeout_s=timeout_s):
        names = ", ".join(w.name for w in workers)
        raise TimeoutError(f"workers {names} were still behind after {timeout_s}s")


@asynccontextmanager
async def running(
    bus: Bus,
    workers: Sequence[Worker],
    *,
    codec: Codec | None = None,
    options: RunnerOptions | None = None,
) -> AsyncIterator[None]:
    """``workers`` running on ``bus`` in the background, through the real runtime
    (groups, atomic commits, dead letters), for the body of the ``async with``.

    On exit they finish their batch and stop; a worker that failed meanwhile has its
    exception raised here, so a crash in the service under test fails the test.
    """
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_workers(workers, bus=bus, codec=codec or default_codec(), stop=stop, options=options)
    )
    try:
        yield
    finally:
        stop.set()
        await task
