"""The Kafka ``TableReader``: one consumer kept open over every partition.

Starting a consumer costs a metadata round trip and a fetch session; a worker
catches its tables up before every batch, so it keeps one assigned to every
partition (no group) and, at each catch-up, reads to the end offsets it asks for
then (records committed meanwhile may come too: fresher is never wrong). Those
are the last stable offsets (read_committed), so the barrier covers
exactly the transactions committed when it was asked, and the consumer's own
position (not the last record's offset) tells when it is there, since commit
markers occupy offsets that carry no record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Self

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from covenant.bus.kafka._read import started_reader
from covenant.bus.protocol import Record
from covenant.errors import BusError
from covenant.topics import Topic

if TYPE_CHECKING:
    from covenant.bus.kafka._bus import KafkaBus


class KafkaTable:
    """Every partition of ``topics``, caught up on demand."""

    def __init__(self, bus: KafkaBus, topics: tuple[Topic, ...]) -> None:
        self._bus = bus
        self._topics = topics
        self._consumer: AIOKafkaConsumer | None = None
        self._tps: list[TopicPartition] = []

    async def __aenter__(self) -> Self:
        # Started like every other client: a broker that is down is waited out.
        consumer = await started_reader(
            lambda: self._bus.reader(group_id=None), self._bus.reconnect
        )
        try:
            self._tps = await self._bus.topic_partitions(self._topics)
            consumer.assign(self._tps)
            await consumer.seek_to_beginning(*self._tps)
        except KafkaError as exc:
            await consumer.stop()
            raise BusError(f"cannot read the tables' topics: {exc}") from exc
        self._consumer = consumer
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            await consumer.stop()

    def _require(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise BusError("the table reader is not open; use 'async with'", retriable=False)
        return self._consumer

    async def catch_up(self) -> list[Record]:
        consumer = self._require()
        records: list[Record] = []
        began = {tp: await consumer.position(tp) for tp in self._tps}
        try:
            ends = await consumer.end_offsets(self._tps)
            behind = [tp for tp in self._tps if began[tp] < ends[tp]]
            while behind:
                batch = await consumer.getmany(*behind, timeout_ms=200, max_records=5000)
                records.extend(
                    Record(
                        self._bus.local(m.topic), m.partition, m.offset, m.key, m.value, m.timestamp
                    )
                    for messages in batch.values()
                    for m in messages
                )
                behind = [tp for tp in behind if await consumer.position(tp) < ends[tp]]
        except KafkaError as exc:
            for tp, position in began.items():  # what was fetched is not returned
                consumer.seek(tp, position)
            raise BusError(f"cannot catch the tables up: {exc}") from exc
        return records

    async def rewind(self) -> None:
        await self._require().seek_to_beginning(*self._tps)
