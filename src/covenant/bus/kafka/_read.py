"""Reading outside any group: replaying topics from given positions, and the end
offsets that lag and drain checks ask for every few seconds. Every reader is
``read_committed``, so aborted transactions are never seen, and each start waits
for an unreachable broker (``Reconnect``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from covenant.bus.kafka._connect import Reconnect, start_or_close
from covenant.bus.protocol import Record
from covenant.bus.protocol import TopicPartition as Tp
from covenant.topics import Topic

if TYPE_CHECKING:
    from covenant.bus.kafka._bus import KafkaBus


def read_committed_consumer(bootstrap: str, client_id: str, **extra: Any) -> AIOKafkaConsumer:
    """A consumer that sees committed records only and never commits by itself;
    ``extra`` adds group settings for group members."""
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        enable_auto_commit=False,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        # A fetch parked on the broker returns as soon as records are committed;
        # this caps the wait when nothing arrives, for prompt polls and stops.
        fetch_max_wait_ms=100,
        **extra,
    )


async def replay(
    bus: KafkaBus,
    topics: Sequence[Topic],
    *,
    follow: bool,
    from_end: bool,
    start: Mapping[Tp, int] | None,
) -> AsyncIterator[Record]:
    """``Bus.read`` on Kafka: one short-lived consumer per call, assigned every
    partition (no group), stopped when the iterator ends or is closed."""
    consumer = await started_reader(lambda: bus.reader(group_id=None), bus.reconnect)
    try:
        tps = await bus.topic_partitions(topics)
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        if from_end:
            for tp in tps:
                consumer.seek(tp, ends[tp])
        elif start is not None:
            for tp in tps:
                consumer.seek(tp, start.get((bus.local(tp.topic), tp.partition), 0))
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
                        bus.local(m.topic), m.partition, m.offset, m.key, m.value, m.timestamp
                    )
    except KafkaError as exc:
        raise bus.failure(exc, "reading the log failed") from exc
    finally:
        await consumer.stop()


async def started_reader(
    make: Callable[[], AIOKafkaConsumer], reconnect: Reconnect
) -> AIOKafkaConsumer:
    """A reader from ``make``, started once the broker answers; a fresh one per
    try, since aiokafka's consumers cannot be started twice."""

    async def attempt() -> AIOKafkaConsumer:
        consumer = make()
        await start_or_close(consumer.start, consumer.stop)
        return consumer

    return await reconnect.run(attempt, what="start a reader")


async def _all_at_end(consumer: AIOKafkaConsumer, ends: Mapping[TopicPartition, int]) -> bool:
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return False
    return True


class EndOffsets:
    """One long-lived client answers end-offset questions: workers ask every few
    seconds for their lag, and starting a client each time stalled their loop
    ~100 ms. Started on first use.

    Args:
        make: builds the (not yet started) consumer that asks.
        reconnect: how its start waits for the broker.
    """

    def __init__(self, make: Callable[[], AIOKafkaConsumer], reconnect: Reconnect) -> None:
        self._make = make
        self._reconnect = reconnect
        self._reader: AIOKafkaConsumer | None = None

    async def of(self, tps: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        """The next offset of each of ``tps`` (committed records only)."""
        if self._reader is None:
            self._reader = await started_reader(self._make, self._reconnect)
        ends = await self._reader.end_offsets(tps)
        return {tp: int(n) for tp, n in ends.items()}

    async def close(self) -> None:
        """Stop the client if it was started; closing twice is harmless."""
        if self._reader is not None:
            reader, self._reader = self._reader, None
            await reader.stop()
