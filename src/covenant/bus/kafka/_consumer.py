"""The Kafka group member: a read-committed consumer in the group, and its own
transactional producer that commits outputs and offsets in one transaction."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Self

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import KafkaError, ProducerFenced

from covenant.bus.partitioner import partition_for
from covenant.bus.protocol import Outgoing, Record
from covenant.bus.protocol import TopicPartition as Tp
from covenant.errors import BusError, FencedError
from covenant.topics import Topic

if TYPE_CHECKING:
    from covenant.bus.kafka._bus import KafkaBus


class _ForgetRevoked(ConsumerRebalanceListener):  # type: ignore[misc]
    """A partition that moved away may be committed by someone else meanwhile;
    forget what we knew of it so ``rewind`` asks the broker."""

    def __init__(self, member: KafkaGroupConsumer) -> None:
        self._member = member

    async def on_partitions_revoked(self, revoked: Any) -> None:
        for tp in revoked:
            self._member.forget((self._member.bus.local(tp.topic), tp.partition))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        return None


class KafkaGroupConsumer:
    """A Kafka group member with its own transactional producer."""

    def __init__(
        self, bus: KafkaBus, *, group: str, topics: Sequence[Topic], instance: str
    ) -> None:
        self.bus = bus
        self._group = group
        self._topics = tuple(topics)
        self._instance = instance
        self._consumer = self._new_consumer()
        self._producer = self._new_producer()
        self._positions: dict[Tp, int] = {}
        # Offsets this member committed; the broker applies them a moment after the
        # transaction returns, so rewind trusts its own record first.
        self._committed: dict[Tp, int] = {}

    def _new_consumer(self) -> AIOKafkaConsumer:
        return self.bus.reader(
            group_id=self.bus.wire(self._group),
            max_poll_records=2000,
            # Static membership (KIP-345): a restarted instance takes its partitions
            # back at once instead of waiting out the dead member's session.
            group_instance_id=self.bus.wire(f"{self._group}.{self._instance}"),
            # Co-partitioning: a worker that reads several topics keyed by the same
            # entity (a job's commands and the policy and allocation answers about
            # it) must see partition p of each in one member, so the entity keeps a
            # single writer. The range assignor gives that when the topics have the
            # same partition count, as ``deployed`` makes them; aiokafka's default
            # round-robin assignor does not.
            partition_assignment_strategy=(RangePartitionAssignor,),
        )

    def _new_producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=self.bus.bootstrap,
            transactional_id=self.bus.wire(f"covenant.{self._group}.{self._instance}"),
            acks="all",
            linger_ms=1,
            # The broker answers CONCURRENT_TRANSACTIONS while it writes the previous
            # commit's markers; retrying after the default 100 ms put that much
            # latency on every back-to-back transaction (the Java client uses 20 ms
            # for this case).
            retry_backoff_ms=10,
        )

    async def __aenter__(self) -> Self:
        try:
            await self.bus.reconnect.run(self._join, what=f"join group {self._group!r}")
        except KafkaError as exc:
            await self.__aexit__()
            raise BusError(f"cannot join group {self._group!r}: {exc}") from exc
        return self

    async def _join(self) -> None:
        """One try at joining; a failed one stops both clients and makes fresh
        ones for the next (aiokafka's clients cannot be started twice)."""
        try:
            # Producer first: init_transactions fences a dead predecessor and aborts
            # its open transaction before we read the offsets it may have held.
            await self._producer.start()
            await self._consumer.start()
            self._consumer.subscribe(
                [self.bus.wire(t.name) for t in self._topics], listener=_ForgetRevoked(self)
            )
        except BaseException:
            with contextlib.suppress(Exception):  # the start's error is the one to raise
                await self.__aexit__()
            self._consumer, self._producer = self._new_consumer(), self._new_producer()
            raise

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()
        await self._producer.stop()

    def forget(self, tp: Tp) -> None:
        """Drop what we knew of a partition that moved to another member."""
        self._committed.pop(tp, None)
        self._positions.pop(tp, None)

    async def positions(self) -> dict[Tp, int]:
        # The consumer's position counts only records handed out (checked against
        # aiokafka), and moves past transaction markers; so it is safe to commit.
        out = dict(self._positions)
        try:
            for tp in self._consumer.assignment():
                out[(self.bus.local(tp.topic), tp.partition)] = int(
                    await self._consumer.position(tp)
                )
        except KafkaError as exc:
            raise self.bus.failure(exc, f"cannot read positions of group {self._group!r}") from exc
        return out

    async def poll(self, *, max_records: int, timeout_s: float) -> list[Record]:
        try:
            batch = await self._consumer.getmany(
                timeout_ms=int(timeout_s * 1000), max_records=max_records
            )
        except KafkaError as exc:
            raise self.bus.failure(exc, "poll failed") from exc
        out: list[Record] = []
        for tp, msgs in batch.items():
            name = self.bus.local(tp.topic)
            out.extend(
                Record(name, m.partition, m.offset, m.key, m.value, m.timestamp) for m in msgs
            )
            if msgs:
                self._positions[(name, tp.partition)] = msgs[-1].offset + 1
        return out

    async def commit(self, *, outputs: Sequence[Outgoing], offsets: Mapping[Tp, int]) -> None:
        # Where the caller commits everything it was handed, commit the consumer's
        # position instead: it can only be further on by transaction markers, and
        # then a drained group's offsets reach the end offsets.
        offsets = {**offsets}
        handed_out = dict(self._positions)
        for tp, position in (await self.positions()).items():
            if tp in offsets and offsets[tp] == handed_out.get(tp) and position > offsets[tp]:
                offsets[tp] = position
        try:
            async with self._producer.transaction():
                futures = [
                    await self._producer.send(
                        self.bus.wire(o.topic.name),
                        o.value,
                        key=o.key,
                        partition=partition_for(o.key, await self.bus.partitions_of(o.topic)),
                    )
                    for o in outputs
                ]
                if offsets:  # aiokafka refuses an empty offset map
                    await self._producer.send_offsets_to_transaction(
                        {TopicPartition(self.bus.wire(t), p): n for (t, p), n in offsets.items()},
                        self.bus.wire(self._group),
                    )
            await asyncio.gather(*futures)
            self._committed.update(offsets)
        except ProducerFenced as exc:
            raise FencedError(f"group {self._group!r}: fenced by a newer instance") from exc
        except KafkaError as exc:
            raise self.bus.failure(exc, f"transaction for group {self._group!r} failed") from exc
        self.bus.outage.back()

    async def rewind(self) -> None:
        try:
            await self._rewind()
        except KafkaError as exc:  # e.g. the broker went away after a failed commit
            raise self.bus.failure(exc, f"cannot rewind group {self._group!r}") from exc

    async def _rewind(self) -> None:
        for tp in self._consumer.assignment():
            mine = self._committed.get((self.bus.local(tp.topic), tp.partition))
            committed = mine if mine is not None else await self._consumer.committed(tp)
            if committed is None:
                await self._consumer.seek_to_beginning(tp)
                self._positions.pop((self.bus.local(tp.topic), tp.partition), None)
            else:
                self._consumer.seek(tp, committed)
                self._positions[(self.bus.local(tp.topic), tp.partition)] = committed
