"""The TableReader contract (``Bus.table``), on the embedded log and on Kafka:
every partition, outside any group, caught up to the end offsets on demand."""

from __future__ import annotations

import uuid
from collections import Counter

from covenant.bus import Bus, Outgoing, Record
from covenant.topics import Topic, TopicKind


def _topic() -> Topic:
    return Topic(f"test.tables.{uuid.uuid4().hex[:8]}", 3, TopicKind.EVENT, "test")


def _records(topic: Topic, n: int, tag: str) -> list[Outgoing]:
    return [Outgoing(topic, f"{tag}-{i}".encode(), f"{tag}-{i}".encode()) for i in range(n)]


def _values(records: list[Record]) -> list[str]:
    return sorted(r.value.decode() for r in records)


async def test_catch_up_returns_every_partition_once(bus: Bus) -> None:
    facts, other = _topic(), _topic()
    await bus.ensure_topics([facts, other])
    await bus.publish(_records(facts, 12, "a") + _records(other, 3, "x"))
    async with bus.table([facts]) as table:
        first = await table.catch_up()
        assert _values(first) == sorted(f"a-{i}" for i in range(12))
        assert {r.partition for r in first} == {0, 1, 2}  # every partition, no group
        assert await table.catch_up() == []  # nothing new: nothing twice
        await bus.publish(_records(facts, 2, "b"))
        assert _values(await table.catch_up()) == ["b-0", "b-1"]


async def test_catch_up_is_a_read_barrier(bus: Bus) -> None:
    # Whatever was published before the call is in what the call returns.
    facts = _topic()
    await bus.ensure_topics([facts])
    async with bus.table([facts]) as table:
        seen: list[Record] = []
        for round_ in range(5):
            await bus.publish(_records(facts, 4, f"r{round_}"))
            seen += await table.catch_up()
            assert Counter(r.value.decode()[:2] for r in seen)[f"r{round_}"] == 4
    assert len(seen) == 20


async def test_records_keep_their_order_per_partition(bus: Bus) -> None:
    facts = _topic()
    await bus.ensure_topics([facts])
    await bus.publish([Outgoing(facts, b"same", str(i).encode()) for i in range(30)])
    async with bus.table([facts]) as table:
        got = await table.catch_up()
    assert [int(r.value) for r in got] == list(range(30))
    assert [r.offset for r in got] == list(range(30))


async def test_rewind_reads_everything_again(bus: Bus) -> None:
    facts = _topic()
    await bus.ensure_topics([facts])
    await bus.publish(_records(facts, 5, "a"))
    async with bus.table([facts]) as table:
        once = await table.catch_up()
        await table.rewind()
        again = await table.catch_up()
    assert _values(again) == _values(once) == [f"a-{i}" for i in range(5)]


async def test_outputs_committed_by_a_group_member_reach_the_table(bus: Bus) -> None:
    commands, facts = _topic(), _topic()
    await bus.ensure_topics([commands, facts])
    await bus.publish(_records(commands, 3, "c"))
    async with (
        bus.consumer(group=f"g{uuid.uuid4().hex[:6]}", topics=[commands]) as member,
        bus.table([facts]) as table,
    ):
        polled: list[Record] = []
        for _ in range(40):
            polled += await member.poll(max_records=10, timeout_s=0.5)
            if len(polled) == 3:
                break
        offsets = {(r.topic, r.partition): r.offset + 1 for r in polled}
        await member.commit(outputs=_records(facts, 3, "f"), offsets=offsets)
        got: list[Record] = []
        for _ in range(50):  # Kafka writes the commit markers a moment after commit
            got += await table.catch_up()
            if len(got) == 3:
                break
    assert _values(got) == ["f-0", "f-1", "f-2"]


async def test_closing_twice_is_harmless(bus: Bus) -> None:
    facts = _topic()
    await bus.ensure_topics([facts])
    table = bus.table([facts])
    async with table:
        assert await table.catch_up() == []
    await table.__aexit__(None, None, None)
