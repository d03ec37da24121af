"""The production log: Apache Kafka through aiokafka.

* Publishing uses an idempotent producer with ``acks=all``: a record is durable on
  every in-sync replica before ``publish`` returns, and retries never duplicate.
* Each group member owns a transactional producer whose ``transactional_id`` is
  ``covenant.<group>.<instance>``. ``commit`` writes the outputs and
  ``send_offsets_to_transaction`` in one transaction. A restarted member with the
  same id fences its predecessor (``init_transactions`` aborts whatever the dead
  one left open), so a kill -9 at any instant loses and duplicates nothing.
  Several instances of one worker need distinct ``instance`` values.
* Consumers read ``read_committed``: aborted outputs are never seen.
* ``namespace`` prefixes every topic, group and transactional id on the broker,
  so several isolated Covenants (or test runs) can share one cluster; records
  and positions handed to callers carry the declared, unprefixed names.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Self

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    KafkaError,
    ProducerFenced,
    TopicAlreadyExistsError,
)

from covenant.bus.partitioner import partition_for
from covenant.bus.protocol import Outgoing, Position, Record
from covenant.bus.protocol import TopicPartition as Tp
from covenant.errors import BusError, FencedError
from covenant.topics import Topic


def _retention(topic: Topic) -> dict[str, str]:
    return {"retention.ms": str(topic.retention_ms), "cleanup.policy": "delete"}


class KafkaBus:
    """The Kafka ``Bus``.

    Args:
        bootstrap: ``host:port[,host:port]``.
        client_id: shows in broker logs and metrics.
    """

    def __init__(self, bootstrap: str, *, client_id: str = "covenant", namespace: str = "") -> None:
        self._bootstrap = bootstrap
        self.namespace = namespace
        self._client_id = client_id
        self._producer: AIOKafkaProducer | None = None
        self._offsets_reader: AIOKafkaConsumer | None = None
        self._admin_client: AIOKafkaAdminClient | None = None
        self._partitions: dict[str, int] = {}

    @property
    def bootstrap(self) -> str:
        return self._bootstrap

    def wire(self, name: str) -> str:
        """The broker-side name of a topic or group."""
        return self.namespace + name

    def local(self, name: str) -> str:
        """The declared name of a broker-side topic."""
        return name[len(self.namespace) :]

    async def __aenter__(self) -> Self:
        if self._producer is None:
            producer = AIOKafkaProducer(
                bootstrap_servers=self._bootstrap,
                client_id=self._client_id,
                acks="all",
                enable_idempotence=True,
                linger_ms=1,
            )
            try:
                await producer.start()
            except KafkaError as exc:
                await producer.stop()
                raise BusError(f"cannot reach Kafka at {self._bootstrap}: {exc}") from exc
            self._producer = producer
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._admin_client is not None:
            admin, self._admin_client = self._admin_client, None
            await admin.close()
        if self._offsets_reader is not None:
            reader, self._offsets_reader = self._offsets_reader, None
            await reader.stop()
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()

    async def _admin(self) -> AIOKafkaAdminClient:
        """The one admin client, started on first use (like the offsets reader: a
        client per call cost a connection and a metadata round trip each time)."""
        if self._admin_client is None:
            admin = AIOKafkaAdminClient(
                bootstrap_servers=self._bootstrap, client_id=self._client_id
            )
            await admin.start()
            self._admin_client = admin
        return self._admin_client

    async def ensure_topics(self, topics: Sequence[Topic]) -> None:
        try:
            admin = await self._admin()
            existing = set(await admin.list_topics())
            missing = [
                NewTopic(self.wire(t.name), t.partitions, 1, topic_configs=_retention(t))
                for t in topics
                if self.wire(t.name) not in existing
            ]
            if missing:
                # Another process may win the race; its declaration is the same.
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics(missing)
        except KafkaError as exc:
            raise BusError(f"cannot create topics on {self._bootstrap}: {exc}") from exc
        # Metadata propagates asynchronously; wait until every partition has a leader.
        for topic in topics:
            await self._wait_for_leaders(topic)

    async def _wait_for_leaders(self, topic: Topic) -> None:
        producer = self._require_producer()
        for _ in range(100):
            parts = await producer.partitions_for(self.wire(topic.name))
            if parts and len(parts) >= topic.partitions:
                self._partitions[topic.name] = len(parts)
                return
            await asyncio.sleep(0.1)
        raise BusError(f"topic {topic.name} has no leaders after 10 s")

    def _require_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise BusError("the Kafka bus is not open; use 'async with'", retriable=False)
        return self._producer

    async def partitions_of(self, topic: Topic) -> int:
        if topic.name not in self._partitions:
            parts = await self._require_producer().partitions_for(self.wire(topic.name))
            self._partitions[topic.name] = len(parts)
        return self._partitions[topic.name]

    async def publish(self, records: Sequence[Outgoing]) -> list[Position]:
        producer = self._require_producer()
        try:
            futures = [
                await producer.send(
                    self.wire(r.topic.name),
                    r.value,
                    key=r.key,
                    partition=partition_for(r.key, await self.partitions_of(r.topic)),
                )
                for r in records
            ]
            metas = await asyncio.gather(*futures)
        except KafkaError as exc:
            raise BusError(f"publish to Kafka failed: {exc}") from exc
        return [Position(self.local(m.topic), m.partition, m.offset) for m in metas]

    def consumer(
        self, *, group: str, topics: Sequence[Topic], instance: str = "0"
    ) -> KafkaGroupConsumer:
        return KafkaGroupConsumer(self, group=group, topics=topics, instance=instance)

    def _reader(self, **extra: Any) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            client_id=self._client_id,
            enable_auto_commit=False,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
            # A fetch parked on the broker returns as soon as records are committed;
            # this caps the wait when nothing arrives, for prompt polls and stops.
            fetch_max_wait_ms=100,
            **extra,
        )

    async def read(
        self,
        topics: Sequence[Topic],
        *,
        follow: bool = False,
        from_end: bool = False,
        start: Mapping[Tp, int] | None = None,
    ) -> AsyncIterator[Record]:
        consumer = self._reader(group_id=None)
        await consumer.start()
        try:
            tps = [
                TopicPartition(self.wire(t.name), p)
                for t in topics
                for p in range(await self.partitions_of(t))
            ]
            consumer.assign(tps)
            ends = await consumer.end_offsets(tps)
            if from_end:
                for tp in tps:
                    consumer.seek(tp, ends[tp])
            elif start is not None:
                for tp in tps:
                    consumer.seek(tp, start.get((self.local(tp.topic), tp.partition), 0))
            else:
                await consumer.seek_to_beginning(*tps)
            while True:
                if not follow and await _all_at_end(consumer, ends):
                    return
                batch = await consumer.getmany(timeout_ms=200, max_records=2000)
                for tp, msgs in batch.items():
                    for m in msgs:
                        if not follow and m.offset >= ends[tp]:
                            continue
                        yield Record(
                            self.local(m.topic), m.partition, m.offset, m.key, m.value, m.timestamp
                        )
        finally:
            await consumer.stop()

    async def end_offsets(self, topic: Topic) -> dict[int, int]:
        # One long-lived client answers these: workers ask every few seconds for
        # their lag, and starting a client each time stalled their loop ~100 ms.
        try:
            if self._offsets_reader is None:
                reader = self._reader(group_id=None)
                await reader.start()
                self._offsets_reader = reader
            tps = [
                TopicPartition(self.wire(topic.name), p)
                for p in range(await self.partitions_of(topic))
            ]
            ends = await self._offsets_reader.end_offsets(tps)
        except KafkaError as exc:
            raise BusError(f"cannot read end offsets of {topic.name}: {exc}") from exc
        return {tp.partition: int(n) for tp, n in ends.items()}

    async def committed(self, *, group: str, topic: Topic) -> dict[int, int]:
        try:
            admin = await self._admin()
            offsets = await admin.list_consumer_group_offsets(self.wire(group))
        except KafkaError as exc:
            raise BusError(f"cannot read offsets of group {group!r}: {exc}") from exc
        return {
            tp.partition: int(meta.offset)
            for tp, meta in offsets.items()
            if tp.topic == self.wire(topic.name) and meta.offset >= 0
        }

    async def groups(self) -> list[str]:
        try:
            admin = await self._admin()
            listed = await admin.list_consumer_groups()
        except KafkaError as exc:
            raise BusError(f"cannot list consumer groups: {exc}") from exc
        names = [str(g[0]) for g in listed]
        return sorted(self.local(n) for n in names if n.startswith(self.namespace))


async def _all_at_end(consumer: AIOKafkaConsumer, ends: Mapping[TopicPartition, int]) -> bool:
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return False
    return True


class _ForgetRevoked(ConsumerRebalanceListener):  # type: ignore[misc]
    """A partition that moved away may be committed by someone else meanwhile;
    forget what we knew of it so ``rewind`` asks the broker."""

    def __init__(self, member: KafkaGroupConsumer) -> None:
        self._member = member

    async def on_partitions_revoked(self, revoked: Any) -> None:
        for tp in revoked:
            key = (self._member._bus.local(tp.topic), tp.partition)
            self._member._committed.pop(key, None)
            self._member._positions.pop(key, None)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        return None


class KafkaGroupConsumer:
    """A Kafka group member with its own transactional producer."""

    def __init__(
        self, bus: KafkaBus, *, group: str, topics: Sequence[Topic], instance: str
    ) -> None:
        self._bus = bus
        self._group = group
        self._topics = tuple(topics)
        self._consumer = bus._reader(
            group_id=bus.wire(group),
            max_poll_records=2000,
            # Static membership (KIP-345): a restarted instance takes its partitions
            # back at once instead of waiting out the dead member's session.
            group_instance_id=bus.wire(f"{group}.{instance}"),
        )
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bus.bootstrap,
            transactional_id=bus.wire(f"covenant.{group}.{instance}"),
            acks="all",
            linger_ms=1,
            # The broker answers CONCURRENT_TRANSACTIONS while it writes the previous
            # commit's markers; retrying after the default 100 ms put that much
            # latency on every back-to-back transaction (the Java client uses 20 ms
            # for this case).
            retry_backoff_ms=10,
        )
        self._positions: dict[Tp, int] = {}
        # Offsets this member committed; the broker applies them a moment after the
        # transaction returns, so rewind trusts its own record first.
        self._committed: dict[Tp, int] = {}

    async def __aenter__(self) -> Self:
        try:
            # Producer first: init_transactions fences a dead predecessor and aborts
            # its open transaction before we read the offsets it may have held.
            await self._producer.start()
            await self._consumer.start()
            self._consumer.subscribe(
                [self._bus.wire(t.name) for t in self._topics], listener=_ForgetRevoked(self)
            )
        except KafkaError as exc:
            await self.__aexit__()
            raise BusError(f"cannot join group {self._group!r}: {exc}") from exc
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()
        await self._producer.stop()

    async def positions(self) -> dict[Tp, int]:
        # The consumer's position counts only records handed out (checked against
        # aiokafka), and moves past transaction markers; so it is safe to commit.
        out = dict(self._positions)
        try:
            for tp in self._consumer.assignment():
                out[(self._bus.local(tp.topic), tp.partition)] = int(
                    await self._consumer.position(tp)
                )
        except KafkaError as exc:
            raise BusError(f"cannot read positions of group {self._group!r}: {exc}") from exc
        return out

    async def poll(self, *, max_records: int, timeout_s: float) -> list[Record]:
        try:
            batch = await self._consumer.getmany(
                timeout_ms=int(timeout_s * 1000), max_records=max_records
            )
        except KafkaError as exc:
            raise BusError(f"poll failed: {exc}") from exc
        out: list[Record] = []
        for tp, msgs in batch.items():
            name = self._bus.local(tp.topic)
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
                        self._bus.wire(o.topic.name),
                        o.value,
                        key=o.key,
                        partition=partition_for(o.key, await self._bus.partitions_of(o.topic)),
                    )
                    for o in outputs
                ]
                if offsets:  # aiokafka refuses an empty offset map
                    await self._producer.send_offsets_to_transaction(
                        {TopicPartition(self._bus.wire(t), p): n for (t, p), n in offsets.items()},
                        self._bus.wire(self._group),
                    )
            await asyncio.gather(*futures)
            self._committed.update(offsets)
        except ProducerFenced as exc:
            raise FencedError(f"group {self._group!r}: fenced by a newer instance") from exc
        except KafkaError as exc:
            raise BusError(f"transaction for group {self._group!r} failed: {exc}") from exc

    async def rewind(self) -> None:
        for tp in self._consumer.assignment():
            mine = self._committed.get((self._bus.local(tp.topic), tp.partition))
            committed = mine if mine is not None else await self._consumer.committed(tp)
            if committed is None:
                await self._consumer.seek_to_beginning(tp)
                self._positions.pop((self._bus.local(tp.topic), tp.partition), None)
            else:
                self._consumer.seek(tp, committed)
                self._positions[(self._bus.local(tp.topic), tp.partition)] = committed
