"""The Kafka ``Bus``: opening and closing its clients, the namespace, publishing,
and the questions answered by the admin client and the end-offsets reader. See
the package docstring for its promises, and ``_connect`` and ``_outage`` for how
it waits out a broker that is down."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Self

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import NewTopic
from aiokafka.errors import KafkaError

from covenant.bus.kafka._admin import Admin
from covenant.bus.kafka._connect import Reconnect, is_unreachable, start_or_close
from covenant.bus.kafka._consumer import KafkaGroupConsumer
from covenant.bus.kafka._outage import ConnectionNoise, OutageLog
from covenant.bus.kafka._read import EndOffsets, read_committed_consumer, replay
from covenant.bus.kafka._table import KafkaTable
from covenant.bus.partitioner import partition_for
from covenant.bus.protocol import Outgoing, Position, Record
from covenant.bus.protocol import TopicPartition as Tp
from covenant.errors import BusError
from covenant.topics import Topic


def _retention(topic: Topic) -> dict[str, str]:
    return {"retention.ms": str(topic.retention_ms), "cleanup.policy": "delete"}


class KafkaBus:
    """The Kafka ``Bus``.

    Args:
        bootstrap: ``host:port[,host:port]``.
        client_id: shows in broker logs and metrics.
        namespace: prefix of every topic, group and transactional id on the broker.
        connect_timeout_s: how long a start waits for an unreachable broker before
            it raises ``BusError`` (None: as long as it takes, like a worker should).
    """

    def __init__(
        self,
        bootstrap: str,
        *,
        client_id: str = "covenant",
        namespace: str = "",
        connect_timeout_s: float | None = None,
    ) -> None:
        self._bootstrap = bootstrap
        self.namespace = namespace
        self._client_id = client_id
        self.outage = OutageLog(bootstrap)
        self.reconnect = Reconnect(self.outage, give_up_after_s=connect_timeout_s)
        self._noise = ConnectionNoise(self.outage)
        self._producer: AIOKafkaProducer | None = None
        self._end_offsets = EndOffsets(lambda: self.reader(group_id=None), self.reconnect)
        self._admin = Admin(bootstrap, client_id, self.reconnect)
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

    def reader(self, **extra: Any) -> AIOKafkaConsumer:
        """A new read-committed consumer on this cluster (not started)."""
        return read_committed_consumer(self._bootstrap, self._client_id, **extra)

    def failure(self, exc: KafkaError, message: str) -> BusError:
        """The ``BusError`` for a failed call, telling the outage log when the
        failure says the broker is unreachable."""
        if is_unreachable(exc):
            self.outage.lost(f"{message}: {exc}")
        return BusError(f"{message}: {exc}")

    async def __aenter__(self) -> Self:
        if self._producer is None:
            self._noise.attach()
            try:
                self._producer = await self.reconnect.run(
                    self._start_producer, what="start the producer"
                )
            except BaseException as exc:
                self._noise.detach()
                if isinstance(exc, KafkaError):
                    raise BusError(f"cannot reach Kafka at {self._bootstrap}: {exc}") from exc
                raise
        return self

    async def _start_producer(self) -> AIOKafkaProducer:
        producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            client_id=self._client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=1,
        )
        await start_or_close(producer.start, producer.stop)
        return producer

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self._admin.close()
            await self._end_offsets.close()
            if self._producer is not None:
                producer, self._producer = self._producer, None
                await producer.stop()
        finally:
            self._noise.detach()

    async def ensure_topics(self, topics: Sequence[Topic]) -> None:
        # The runtime's first call after opening: a broker that went away between
        # the two is waited for here too, not only at the producer's start.
        wanted = [
            NewTopic(self.wire(t.name), t.partitions, 1, topic_configs=_retention(t))
            for t in topics
        ]

        async def attempt() -> None:
            await self._admin.create_missing(wanted)
            # Metadata propagates asynchronously; wait until every partition has a leader.
            for topic in topics:
                await self._wait_for_leaders(topic)

        try:
            await self.reconnect.run(attempt, what="create topics")
        except KafkaError as exc:
            raise BusError(f"cannot create topics on {self._bootstrap}: {exc}") from exc

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

    async def topic_partitions(self, topics: Sequence[Topic]) -> list[TopicPartition]:
        """Every partition of ``topics``, as the broker names them (readers that
        assign partitions themselves, outside any group, start from this)."""
        return [
            TopicPartition(self.wire(t.name), p)
            for t in topics
            for p in range(await self.partitions_of(t))
        ]

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
            raise self.failure(exc, "publish to Kafka failed") from exc
        self.outage.back()
        return [Position(self.local(m.topic), m.partition, m.offset) for m in metas]

    def consumer(
        self, *, group: str, topics: Sequence[Topic], instance: str = "0"
    ) -> KafkaGroupConsumer:
        return KafkaGroupConsumer(self, group=group, topics=topics, instance=instance)

    def read(
        self,
        topics: Sequence[Topic],
        *,
        follow: bool = False,
        from_end: bool = False,
        start: Mapping[Tp, int] | None = None,
    ) -> AsyncIterator[Record]:
        return replay(self, topics, follow=follow, from_end=from_end, start=start)

    def table(self, topics: Sequence[Topic]) -> KafkaTable:
        return KafkaTable(self, tuple(topics))

    async def end_offsets(self, topic: Topic) -> dict[int, int]:
        try:
            ends = await self._end_offsets.of(await self.topic_partitions([topic]))
        except KafkaError as exc:
            raise self.failure(exc, f"cannot read end offsets of {topic.name}") from exc
        self.outage.back()
        return {tp.partition: n for tp, n in ends.items()}

    async def committed(self, *, group: str, topic: Topic) -> dict[int, int]:
        try:
            offsets = await self._admin.committed(self.wire(group))
        except KafkaError as exc:
            raise self.failure(exc, f"cannot read offsets of group {group!r}") from exc
        self.outage.back()
        return {
            tp.partition: int(meta.offset)
            for tp, meta in offsets.items()
            if tp.topic == self.wire(topic.name) and meta.offset >= 0
        }

    async def groups(self) -> list[str]:
        try:
            names = await self._admin.groups()
        except KafkaError as exc:
            raise self.failure(exc, "cannot list consumer groups") from exc
        self.outage.back()
        return sorted(self.local(n) for n in names if n.startswith(self.namespace))
