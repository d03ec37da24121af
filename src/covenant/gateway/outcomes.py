"""Waiting for a command's outcome: the mechanism behind ``?wait=SECONDS``.

A command is a request; whether it worked is decided later by a worker, which
writes an event naming the command as its cause (``meta.causationId`` = the
command's ``eventId``). So the gateway does not decide anything: it follows the
event topics and hands each event to the request waiting for its cause.

One background task follows the topics for the whole gateway, however many
requests wait, so waiting costs a dictionary entry and a future, not a consumer
per request. A request registers its waiter *before* it publishes, so an outcome
that arrives while ``publish`` is still returning is not missed. The waiter map is
bounded: beyond ``max_waiters`` a request is still accepted but answered 202 at
once, with a status link, rather than holding memory the gateway cannot spare.

The follower also remembers the last outcomes (bounded), and which commands this
gateway published and has not seen decided yet, so ``GET /commands/{id}`` can
answer "pending", the outcome, or "unknown to this gateway". Every gateway
instance follows every partition, so any instance can answer for an outcome.

Dead letters are followed too: when a worker gives up on a command, the waiting
request learns that at once instead of waiting out its timeout.

Start-up window: the follower starts at the end of the log, and on Kafka the
reader takes its position asynchronously; an outcome written before it has its
position is not seen, and its request gets 202 after its wait. On the embedded
log the position is taken before ``start`` returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Iterator
from typing import TypeVar

from covenant.bus.protocol import Bus, Record
from covenant.errors import ContractError, CovenantError
from covenant.events.base import Message
from covenant.events.codec import Codec
from covenant.events.deadletter import DeadLettered
from covenant.topics import (
    ARTIFACT_EVENTS,
    DATASET_EVENTS,
    DEADLETTER,
    DRIFT_EVENTS,
    EVAL_EVENTS,
    MODEL_EVENTS,
    PROMOTION_EVENTS,
    TRAIN_EVENTS,
    TopicKind,
)

log = logging.getLogger("covenant.gateway.outcomes")

FOLLOWED = (
    DATASET_EVENTS,
    ARTIFACT_EVENTS,
    MODEL_EVENTS,
    TRAIN_EVENTS,
    PROMOTION_EVENTS,
    EVAL_EVENTS,
    DRIFT_EVENTS,
    DEADLETTER,
)
_RETRY_MIN_S = 0.1
_RETRY_MAX_S = 5.0

Waiter = asyncio.Future[Message]
V = TypeVar("V")


class Outcomes:
    """Follows the event topics and resolves per-command waiters.

    Args:
        bus: the log to follow.
        codec: decodes the events.
        max_waiters: most requests waiting at once (0: never wait).
        remember: most outcomes (and pending command ids) kept for status lookups.
    """

    def __init__(self, *, bus: Bus, codec: Codec, max_waiters: int, remember: int) -> None:
        self._bus = bus
        self._codec = codec
        self._max_waiters = max_waiters
        self._remember = remember
        self._waiters: dict[str, Waiter] = {}
        self._recent: OrderedDict[str, Message] = OrderedDict()
        self._pending: OrderedDict[str, None] = OrderedDict()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start following from the end of the log; starting twice is harmless."""
        if self._task is None:
            # Positions are taken here, before the gateway serves, so an outcome of
            # the first request can never land before the follower's start.
            start = {
                (topic.name, partition): end
                for topic in FOLLOWED
                for partition, end in (await self._bus.end_offsets(topic)).items()
            }
            self._task = asyncio.create_task(self._follow(start), name="gateway-outcomes")

    async def stop(self) -> None:
        """Stop following; requests still waiting get no outcome (so a 202)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @property
    def following(self) -> bool:
        """Whether the follower runs (for the health check)."""
        return self._task is not None and not self._task.done()

    @contextlib.contextmanager
    def expect(self, command_id: str) -> Iterator[Waiter | None]:
        """A waiter for the outcome of ``command_id``, registered until the block
        ends; None when the map is full or nothing follows the log."""
        if len(self._waiters) >= self._max_waiters or not self.following:
            yield None
            return
        waiter: Waiter = asyncio.get_running_loop().create_future()
        self._waiters[command_id] = waiter
        try:
            yield waiter
        finally:
            if self._waiters.get(command_id) is waiter:
                del self._waiters[command_id]

    @staticmethod
    async def wait(waiter: Waiter, timeout_s: float) -> Message | None:
        """The outcome, or None when none arrived within ``timeout_s``."""
        try:
            return await asyncio.wait_for(waiter, timeout_s)
        except TimeoutError:
            return None

    def published(self, command_id: str) -> None:
        """Note a command this gateway wrote, so a status lookup says "pending"."""
        if command_id not in self._recent:
            _put(self._pending, command_id, None, self._remember)

    def outcome(self, command_id: str) -> Message | None:
        """The remembered outcome of ``command_id``, if any."""
        return self._recent.get(command_id)

    def is_pending(self, command_id: str) -> bool:
        """Whether this gateway published ``command_id`` and saw no outcome yet."""
        return command_id in self._pending

    async def _follow(self, start: dict[tuple[str, int], int]) -> None:
        """Follow the log from ``start``, starting again (from its end) after a
        failure: waiting requests then time out into 202s rather than the gateway
        going down."""
        delay = _RETRY_MIN_S
        first: dict[tuple[str, int], int] | None = start
        while True:
            if first is not None:
                records = self._bus.read(FOLLOWED, follow=True, start=first)
                first = None
            else:
                records = self._bus.read(FOLLOWED, follow=True, from_end=True)
            try:
                async for record in records:
                    self._take(record)
                    delay = _RETRY_MIN_S
            except CovenantError as exc:  # the log failed: back off, follow again
                log.warning("following outcomes failed (%s); again in %.1fs", exc, delay)
            except Exception:  # a bug must not end ?wait for good; it is logged in full
                log.exception("following outcomes failed; again in %.1fs", delay)
            finally:
                close = getattr(records, "aclose", None)
                if close is not None:
                    await close()
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RETRY_MAX_S)

    def _take(self, record: Record) -> None:
        try:
            event = self._codec.decode(record.value)
        except ContractError as exc:  # not ours to judge; the projector records it
            log.debug("ignoring %s/%d@%d: %s", record.topic, record.partition, record.offset, exc)
            return
        cause = self._cause_of(event)
        if cause is None:
            return
        self._pending.pop(cause, None)
        _put(self._recent, cause, event, self._remember)
        waiter = self._waiters.get(cause)
        if waiter is not None and not waiter.done():
            waiter.set_result(event)

    def _cause_of(self, event: Message) -> str | None:
        """The command an event answers: its cause, or for a dead letter the
        command it carries (dead letters of events answer nobody)."""
        if not isinstance(event, DeadLettered):
            return event.meta.causation_id
        try:
            original = self._codec.decode(event.original)
        except ContractError:
            return None
        return original.meta.event_id if original.TOPIC.kind is TopicKind.COMMAND else None


def _put(memory: OrderedDict[str, V], key: str, value: V, limit: int) -> None:
    """Insert as newest, dropping the oldest beyond ``limit``."""
    if limit <= 0:
        return
    memory[key] = value
    memory.move_to_end(key)
    while len(memory) > limit:
        memory.popitem(last=False)
