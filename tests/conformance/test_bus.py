"""The Bus contract, run against the embedded log and a real Kafka broker."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from pathlib import Path

import pytest

from covenant.bus import Bus, Outgoing, Record, open_bus
from covenant.bus.partitioner import partition_for
from covenant.errors import BusError
from covenant.topics import Topic, TopicKind


def fresh_topic(partitions: int = 3) -> Topic:
    return Topic(f"test.{uuid.uuid4().hex[:8]}", partitions, TopicKind.EVENT, "test")


def out(topic: Topic, key: str, value: str) -> Outgoing:
    return Outgoing(topic, key.encode(), value.encode())


async def read_all(bus: Bus, *topics: Topic) -> list[Record]:
    return [r async for r in bus.read(topics)]


async def drain(consumer: object, want: int, *, timeout_s: float = 20.0) -> list[Record]:
    got: list[Record] = []
    deadline = asyncio.get_running_loop().time() + timeout_s
    while len(got) < want and asyncio.get_running_loop().time() < deadline:
        got += await consumer.poll(max_records=1000, timeout_s=0.5)  # type: ignore[attr-defined]
    return got


async def committed_soon(
    bus: Bus, group: str, topic: Topic, want: dict[int, int]
) -> dict[int, int]:
    """Kafka applies transactional offsets when the commit marker lands, a moment
    after the transaction returns; wait a little for them, as any reader would."""
    for _ in range(50):
        got = await bus.committed(group=group, topic=topic)
        if got == want:
            break
        await asyncio.sleep(0.1)
    return got


async def test_ensure_topics_is_idempotent(bus: Bus) -> None:
    topic = fresh_topic()
    await bus.ensure_topics([topic])
    await bus.ensure_topics([topic])
    assert await bus.end_offsets(topic) == {0: 0, 1: 0, 2: 0}


async def test_publish_returns_positions_and_keeps_order_per_key(bus: Bus) -> None:
    topic = fresh_topic()
    await bus.ensure_topics([topic])
    records = [out(topic, f"subject-{i % 7}", f"v{i}") for i in range(200)]
    positions = await bus.publish(records)
    assert len(positions) == 200
    for rec, pos in zip(records, positions, strict=True):
        assert pos.topic == topic.name
        assert pos.partition == partition_for(rec.key, 3)
    read = await read_all(bus, topic)
    assert len(read) == 200
    by_key: dict[bytes, list[bytes]] = defaultdict(list)
    for r in read:
        assert r.key is not None
        by_key[r.key].append(r.value)
    for key, values in by_key.items():
        assert values == [r.value for r in records if r.key == key]
    ends = await bus.end_offsets(topic)
    assert sum(ends.values()) == 200


async def test_read_replays_from_the_beginning_every_time(bus: Bus) -> None:
    topic = fresh_topic(1)
    await bus.ensure_topics([topic])
    await bus.publish([out(topic, "k", f"v{i}") for i in range(50)])
    first = await read_all(bus, topic)
    second = await read_all(bus, topic)
    assert [r.value for r in first] == [r.value for r in second]
    assert [r.offset for r in first] == list(range(50))


async def test_group_resumes_from_committed_offsets(bus: Bus) -> None:
    source, sink = fresh_topic(), fresh_topic()
    await bus.ensure_topics([source, sink])
    await bus.publish([out(source, f"k{i}", f"v{i}") for i in range(30)])
    group = f"g-{uuid.uuid4().hex[:6]}"
    async with bus.consumer(group=group, topics=[source]) as consumer:
        got = await drain(consumer, 30)
        assert len(got) == 30
        first_ten = got[:10]
        offsets = {}
        for r in first_ten:
            offsets[(r.topic, r.partition)] = r.offset + 1
        await consumer.commit(outputs=[], offsets=offsets)
    want = {p: n for (_, p), n in offsets.items()}
    assert await committed_soon(bus, group, source, want) == want
    assert group in await bus.groups()
    async with bus.consumer(group=group, topics=[source]) as consumer:
        again = await drain(consumer, 20)
    seen = {(r.partition, r.offset) for r in first_ten}
    assert len(again) == 20
    assert not seen & {(r.partition, r.offset) for r in again}


async def test_commit_writes_outputs_and_offsets_together(bus: Bus) -> None:
    source, sink = fresh_topic(), fresh_topic()
    await bus.ensure_topics([source, sink])
    await bus.publish([out(source, f"k{i}", f"v{i}") for i in range(10)])
    group = f"g-{uuid.uuid4().hex[:6]}"
    async with bus.consumer(group=group, topics=[source]) as consumer:
        got = await drain(consumer, 10)
        offsets = {(r.topic, r.partition): r.offset + 1 for r in got}
        await consumer.commit(
            outputs=[out(sink, r.key.decode(), r.value.decode() + "!") for r in got if r.key],
            offsets=offsets,
        )
    produced = await read_all(bus, sink)
    for _ in range(50):  # Kafka: visible once the commit markers land, see commit()
        if len(produced) >= 10:
            break
        await asyncio.sleep(0.1)
        produced = await read_all(bus, sink)
    assert sorted(r.value for r in produced) == sorted(f"v{i}!".encode() for i in range(10))
    want = await bus.end_offsets(source)
    assert await committed_soon(bus, group, source, want) == want


async def test_work_not_committed_is_not_visible_and_is_redelivered(bus: Bus) -> None:
    source, sink = fresh_topic(), fresh_topic()
    await bus.ensure_topics([source, sink])
    await bus.publish([out(source, f"k{i}", f"v{i}") for i in range(10)])
    group = f"g-{uuid.uuid4().hex[:6]}"
    async with bus.consumer(group=group, topics=[source]) as consumer:
        assert len(await drain(consumer, 10)) == 10
        # Leave without committing: as if the worker crashed mid-batch.
    assert await read_all(bus, sink) == []
    assert await bus.committed(group=group, topic=source) == {}
    async with bus.consumer(group=group, topics=[source]) as consumer:
        assert len(await drain(consumer, 10)) == 10


async def test_rewind_returns_to_committed_offsets(bus: Bus) -> None:
    source = fresh_topic(1)
    await bus.ensure_topics([source])
    await bus.publish([out(source, "k", f"v{i}") for i in range(10)])
    group = f"g-{uuid.uuid4().hex[:6]}"
    async with bus.consumer(group=group, topics=[source]) as consumer:
        got = await drain(consumer, 10)
        await consumer.commit(outputs=[], offsets={(source.name, 0): 4})
        await consumer.rewind()
        again = await drain(consumer, 6)
    assert [r.offset for r in got] == list(range(10))
    assert [r.offset for r in again] == list(range(4, 10))


async def test_read_from_end_sees_only_later_records(bus: Bus) -> None:
    topic = fresh_topic(1)
    await bus.ensure_topics([topic])
    await bus.publish([out(topic, "k", "old")])
    assert [r async for r in bus.read([topic], from_end=True)] == []

    async def first_new() -> bytes:
        async for r in bus.read([topic], follow=True, from_end=True):
            return r.value
        return b""

    task = asyncio.create_task(first_new())
    await asyncio.sleep(0.5)
    await bus.publish([out(topic, "k", "new")])
    assert await asyncio.wait_for(task, 20) == b"new"


async def test_read_from_given_positions(bus: Bus) -> None:
    topic = fresh_topic(1)
    await bus.ensure_topics([topic])
    await bus.publish([out(topic, "k", f"v{i}") for i in range(3)])
    got = [r.offset async for r in bus.read([topic], start={(topic.name, 0): 1})]
    assert got == [1, 2]


async def test_follow_sees_records_published_later(bus: Bus) -> None:
    topic = fresh_topic(1)
    await bus.ensure_topics([topic])
    await bus.publish([out(topic, "k", "before")])

    async def collect() -> list[bytes]:
        seen = []
        async for r in bus.read([topic], follow=True):
            seen.append(r.value)
            if len(seen) == 2:
                return seen
        return seen

    task = asyncio.create_task(collect())
    await asyncio.sleep(0.3)
    await bus.publish([out(topic, "k", "after")])
    assert await asyncio.wait_for(task, 20) == [b"before", b"after"]


async def test_sqlite_publish_to_an_undeclared_topic_fails_clearly(tmp_path: Path) -> None:
    # Kafka refuses too (auto-creation is off) but only after its metadata timeout.
    async with open_bus(f"sqlite:///{tmp_path / 'log.sqlite3'}") as bus:
        with pytest.raises(BusError, match="does not exist"):
            await bus.publish([out(fresh_topic(), "k", "v")])


async def test_concurrent_publishes_each_get_their_positions(bus: Bus) -> None:
    topic = fresh_topic(1)
    await bus.ensure_topics([topic])
    results = await asyncio.gather(
        *(bus.publish([out(topic, "k", f"a{i}"), out(topic, "k", f"b{i}")]) for i in range(40))
    )
    offsets = sorted(p.offset for positions in results for p in positions)
    assert offsets == list(range(80))
    for positions in results:  # a caller's records keep their order
        assert positions[1].offset > positions[0].offset


async def test_sqlite_a_bad_publish_fails_alone_in_a_group_commit(tmp_path: Path) -> None:
    async with open_bus(f"sqlite:///{tmp_path / 'log.sqlite3'}") as bus:
        topic = fresh_topic(1)
        await bus.ensure_topics([topic])
        good = [bus.publish([out(topic, "k", f"v{i}")]) for i in range(5)]
        bad = bus.publish([out(fresh_topic(), "k", "nowhere")])
        results = await asyncio.gather(*good, bad, return_exceptions=True)
        assert all(isinstance(r, list) for r in results[:5])
        assert isinstance(results[5], BusError)
        assert [r.value async for r in bus.read([topic])] == [f"v{i}".encode() for i in range(5)]
