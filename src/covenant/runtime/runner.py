"""Running a worker: consume → catch up → handle → emit, outputs and offsets atomic.

Per batch: poll the group's command partitions, catch the worker's global tables
up to the fact topics' end offsets (the read barrier), decide every record, and
commit the outputs together with the offsets.

Failures:
* undecodable bytes, unknown fingerprints, schema violations and non-retriable
  handler errors go straight to the dead-letter topic;
* anything else is retried with exponential backoff up to ``max_attempts`` and
  then dead-lettered. The dead letter keeps the original bytes, the error and
  the position, and is committed in the same transaction as the offset, so the
  worker moves on and nothing is dropped silently;
* a failed commit rewinds to the committed offsets and rebuilds the state, since
  what the batch folded was never written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from covenant.bus.protocol import Bus, GroupConsumer, Outgoing, Record, TopicPartition
from covenant.errors import BusError, ContractError, CovenantError, FencedError
from covenant.events.codec import Codec
from covenant.events.deadletter import DeadLettered
from covenant.runtime.metrics import WorkerMetrics
from covenant.runtime.tables import GlobalTables
from covenant.runtime.worker import Context, Worker

log = logging.getLogger(__name__)


@dataclass
class RunnerOptions:
    """Tuning knobs; the defaults suit both logs."""

    batch_size: int = 500
    poll_timeout_s: float = 0.2
    max_attempts: int = 3
    backoff_s: float = 0.05
    lag_interval_s: float = 5.0
    instance: str = "0"


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
        self._tables: GlobalTables | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; the batch in hand is finished first."""
        consumer = self._bus.consumer(
            group=self.worker.name, topics=self.worker.inputs, instance=self._options.instance
        )
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(consumer)
            state = self.worker.state
            if state is not None:
                table = await stack.enter_async_context(self._bus.table(state.topics))
                self._tables = GlobalTables(
                    state, table=table, codec=self._codec, worker=self.worker.name
                )
                await self._tables.rebuild()
            self._committed_positions = await consumer.positions()
            await self._replay()
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
        if self._tables is not None:
            try:
                await self._tables.catch_up()  # the read barrier
            except FencedError:
                raise
            except BusError as exc:
                # Nothing of the batch was decided; read it again once the log answers.
                log.warning("worker %s: catching up failed, retrying: %s", self.worker.name, exc)
                await consumer.rewind()
                await asyncio.sleep(self._options.backoff_s)
                return
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
            if self._tables is not None:
                await self._tables.rebuild()
            await self._replay()
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
                ctx = Context(
                    worker=self.worker.name,
                    cause=message,
                    position=(record.topic, record.partition, record.offset),
                )
                try:
                    await self.worker.handle(message, ctx)
                    outputs = [self._codec.outgoing(m) for m in ctx.emitted] + ctx.raw
                    if self.worker.state is not None:
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
        return self._codec.outgoing(letter)

    async def _replay(self) -> None:
        """Rebuild the worker's in-memory work from its input (see ``Replayed``):
        from where it began up to the committed offsets, never past them."""
        replay = self.worker.replay
        if replay is None:
            return
        replay.forget()
        committed = self._committed_positions
        todo = {
            tp: (first, committed[tp])
            for tp, first in replay.replay_from().items()
            if first < committed.get(tp, 0)
        }
        replayed = 0
        for topic in self.worker.inputs:
            parts = {p: span for (t, p), span in todo.items() if t == topic.name}
            if not parts:
                continue
            ends = await self._bus.end_offsets(topic)
            start = {(topic.name, p): end for p, end in ends.items()}
            start.update({(topic.name, p): first for p, (first, _) in parts.items()})
            pending = set(parts)
            async for record in self._bus.read([topic], start=start):
                span = parts.get(record.partition)
                if span is None or record.offset >= span[1]:
                    pending.discard(record.partition)
                    if not pending:
                        break
                    continue
                try:
                    message = self._codec.decode(record.value)
                except ContractError:
                    continue  # dead-lettered when it was first handled
                if isinstance(message, self.worker.accepts):
                    await replay.refold(message, (record.topic, record.partition, record.offset))
                    replayed += 1
        if replayed:
            log.info("worker %s: replayed %d records into memory", self.worker.name, replayed)

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
