"""The worker runtime: consume → handle → emit, with outputs and offsets atomic.

A worker is a name, input topics and an async handler. The runtime reads a batch,
decodes each record, calls the handler with a ``Context`` it emits through, and
commits every output of the batch together with the batch's offsets. So a crash
at any instant either applied a whole batch or none of it.

State: a worker that decides about entities ("is this version new?") keeps a
``WorkerState`` folded from topics, replayed from the beginning at start and after
every failed commit, and fed every record it consumes and every record it emits,
so a decision always sees the worker's own earlier decisions, committed or in the
same batch. Its own outputs are in its state topics, and they commit atomically
with its offsets, so the rebuilt state is exactly what the log says was decided.

Failures:
* undecodable bytes, unknown fingerprints, schema violations and non-retriable
  handler errors go straight to the dead-letter topic;
* anything else is retried with exponential backoff up to ``max_attempts`` and
  then dead-lettered. The dead letter keeps the original bytes, the error and
  the position, and is committed in the same transaction as the offset, so the
  worker moves on and nothing is dropped silently.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from covenant.bus.protocol import Bus, GroupConsumer, Outgoing, Record, TopicPartition
from covenant.errors import BusError, ContractError, CovenantError, FencedError
from covenant.events.base import Message
from covenant.events.codec import Codec
from covenant.events.deadletter import DeadLettered
from covenant.runtime.metrics import WorkerMetrics
from covenant.topics import Topic

log = logging.getLogger(__name__)

M = TypeVar("M", bound=Message)


class Context:
    """What a handler may do: emit records caused by the one being handled.

    Emitted records inherit the flow's correlation id and actor, and name the input
    as their cause, so the log links every fact to the intent behind it.
    """

    def __init__(self, *, worker: str, cause: Message) -> None:
        self.worker = worker
        self.cause = cause
        self.emitted: list[Message] = []
        self.raw: list[Outgoing] = []

    def emit(self, cls: type[M], *, subject: str | None = None, **body: Any) -> M:
        """Build and queue a record; it is written only when the batch commits."""
        message: M = cls.create(
            subject=subject or self.cause.meta.subject,
            actor=self.cause.meta.actor,
            producer=self.worker,
            correlation_id=self.cause.meta.correlation_id,
            causation_id=self.cause.meta.event_id,
            idempotency_key=self.cause.meta.idempotency_key,
            **body,
        )
        self.emitted.append(message)
        return message

    def emit_raw(self, topic: Topic, *, key: bytes, value: bytes) -> None:
        """Queue bytes outside our contract (JSON for outside tools) on an export
        topic; committed with the batch like every other output."""
        self.raw.append(Outgoing(topic, key, value))


Handler = Callable[[Message, Context], Awaitable[None]]


class WorkerState(Protocol):
    """What a stateful worker knows, folded from the log.

    ``apply`` must be idempotent: after a restart the same record may be folded
    twice (once from the replay, once when consumed again).
    """

    topics: tuple[Topic, ...]

    def reset(self) -> None:
        """Forget everything, before a replay."""
        ...

    def apply(self, message: Message) -> None:
        """Fold one record into the state."""
        ...


@dataclass(frozen=True)
class Worker:
    """A stream worker's declaration.

    Attributes:
        name: also its consumer group; keep it stable, offsets are stored under it.
        inputs: topics it consumes.
        outputs: topics it may write (created at start-up; documentation for readers).
        accepts: the message types it handles; any other record on its inputs is
            dead-lettered, since a worker that silently skipped it would hide a
            misrouted command.
        handle: the decision, ``async (message, ctx) -> None``.
        description: one line for ``covenant worker --help`` and logs.
    """

    name: str
    inputs: tuple[Topic, ...]
    outputs: tuple[Topic, ...]
    accepts: tuple[type[Message], ...]
    handle: Handler
    description: str = ""
    state: WorkerState | None = None


@dataclass
class RunnerOptions:
    """Tuning knobs; the defaults suit both logs."""

    batch_size: int = 500
    poll_timeout_s: float = 0.2
    max_attempts: int = 3
    backoff_s: float = 0.05
    lag_interval_s: float = 5.0
    instance: str = "0"
    extra_topics: Sequence[Topic] = field(default_factory=tuple)


class WorkerRunner:
    """Runs one ``Worker`` against a ``Bus`` until ``stop`` is set."""

    def __init__(
        self,
        worker: Worker,
        *,
        bus: Bus,
        codec: Codec,
        metrics: WorkerMetrics,
        options: RunnerOptions | None = None,
    ) -> None:
        self.worker = worker
        self._bus = bus
        self._codec = codec
        self._options = options or RunnerOptions()
        # Labelled children resolved once: ``labels()`` costs microseconds per record.
        name = worker.name
        self._committed_positions: dict[TopicPartition, int] = {}
        self._processed = metrics.processed.labels(worker=name)
        self._failed = metrics.failed.labels(worker=name)
        self._dead_lettered = metrics.dead_lettered.labels(worker=name)
        self._lag = metrics.lag.labels(worker=name)
        self._latency = metrics.latency.labels(worker=name)

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; the batch in hand is finished first."""
        consumer = self._bus.consumer(
            group=self.worker.name, topics=self.worker.inputs, instance=self._options.instance
        )
        async with consumer:
            await self._rebuild_state()
            self._committed_positions = await consumer.positions()
            log.info("worker %s started", self.worker.name)
            next_lag = 0.0
            while not stop.is_set():
                if time.monotonic() >= next_lag:
                    await self._update_lag(consumer)
                    next_lag = time.monotonic() + self._options.lag_interval_s
                records = await consumer.poll(
                    max_records=self._options.batch_size, timeout_s=self._options.poll_timeout_s
                )
                if records:
                    await self._process(consumer, records)
                else:
                    await self._commit_skipped(consumer)
            log.info("worker %s stopped", self.worker.name)

    async def _process(self, consumer: GroupConsumer, records: list[Record]) -> None:
        outputs: list[Outgoing] = []
        offsets: dict[TopicPartition, int] = {}
        dead = 0
        for record in records:
            outs, was_dead = await self._handle(record)
            outputs.extend(outs)
            dead += was_dead
            offsets[(record.topic, record.partition)] = record.offset + 1
        try:
            await consumer.commit(outputs=outputs, offsets=offsets)
        except FencedError:
            raise
        except BusError as exc:
            # Nothing of the batch was applied; read it again from the committed offsets.
            log.warning("worker %s: commit failed, rewinding: %s", self.worker.name, exc)
            await consumer.rewind()
            await self._rebuild_state()
            await asyncio.sleep(self._options.backoff_s)
            return
        self._committed_positions = await consumer.positions()
        self._processed.inc(len(records))
        if dead:
            self._dead_lettered.inc(dead)

    async def _handle(self, record: Record) -> tuple[list[Outgoing], int]:
        started = time.perf_counter()
        attempts = 0
        error: Exception
        try:
            message = self._codec.decode(record.value)
            if not isinstance(message, self.worker.accepts):
                raise ContractError(
                    f"{message.TYPE} is not a type worker {self.worker.name!r} handles "
                    f"(it takes {', '.join(t.TYPE for t in self.worker.accepts)})"
                )
        except ContractError as exc:
            attempts, error = 1, exc
            self._failed.inc()
        else:
            while True:
                attempts += 1
                ctx = Context(worker=self.worker.name, cause=message)
                try:
                    await self.worker.handle(message, ctx)
                    outputs = [self._outgoing(m) for m in ctx.emitted] + ctx.raw
                    if self.worker.state is not None:
                        self.worker.state.apply(message)
                        for emitted in ctx.emitted:
                            self.worker.state.apply(emitted)
                except Exception as exc:
                    self._failed.inc()
                    error = exc
                    retriable = not isinstance(exc, CovenantError) or exc.retriable
                    if retriable and attempts < self._options.max_attempts:
                        await asyncio.sleep(self._options.backoff_s * 2 ** (attempts - 1))
                        continue
                    break
                self._latency.observe(time.perf_counter() - started)
                return outputs, 0
        log.warning(
            "worker %s: dead-lettering %s/%d@%d after %d attempt(s): %s",
            self.worker.name,
            record.topic,
            record.partition,
            record.offset,
            attempts,
            error,
        )
        return [self._dead_letter(record, error, attempts)], 1

    def _outgoing(self, message: Message) -> Outgoing:
        return Outgoing(
            topic=message.TOPIC,
            key=message.meta.subject.encode(),
            value=self._codec.encode(message),
        )

    def _dead_letter(self, record: Record, error: Exception, attempts: int) -> Outgoing:
        position = f"{record.topic}/{record.partition}/{record.offset}"
        letter = DeadLettered.create(
            subject=position,
            actor="covenant",
            producer=self.worker.name,
            worker=self.worker.name,
            source_topic=record.topic,
            source_partition=record.partition,
            source_offset=record.offset,
            error_class=type(error).__name__,
            error=str(error) or repr(error),
            attempts=attempts,
            original=record.value,
            original_key=record.key,
        )
        return self._outgoing(letter)

    async def _commit_skipped(self, consumer: GroupConsumer) -> None:
        """When idle, commit positions that moved without records (past Kafka's
        transaction markers), so lag reads zero once everything is handled."""
        positions = await consumer.positions()
        if not positions or positions == self._committed_positions:
            return
        try:
            await consumer.commit(outputs=[], offsets=positions)
        except FencedError:
            raise
        except BusError as exc:  # nothing was handled; try again when next idle
            log.debug("idle commit failed: %s", exc)
            return
        self._committed_positions = positions

    async def _rebuild_state(self) -> None:
        state = self.worker.state
        if state is None:
            return
        state.reset()
        folded = 0
        async for record in self._bus.read(state.topics):
            try:
                state.apply(self._codec.decode(record.value))
            except ContractError:
                continue  # dead-lettered where it was consumed; nothing to fold
            folded += 1
        log.info("worker %s: state rebuilt from %d records", self.worker.name, folded)

    async def _update_lag(self, consumer: GroupConsumer) -> None:
        try:
            positions = await consumer.positions()
            lag = 0
            for topic in self.worker.inputs:
                for partition, end in (await self._bus.end_offsets(topic)).items():
                    lag += max(0, end - positions.get((topic.name, partition), 0))
            self._lag.set(lag)
        except CovenantError as exc:  # lag is best-effort; never stop work for it
            log.debug("lag update failed: %s", exc)
