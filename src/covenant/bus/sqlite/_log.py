"""Rows of the log: appending records inside a write transaction, and reading
them back by position. Shared by the bus (publish, read) and the group member
(commit, poll), which each bring their own connection."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence

from covenant.bus.partitioner import partition_for
from covenant.bus.protocol import Outgoing, Position, Record, TopicPartition
from covenant.bus.sqlite._connection import now_ms
from covenant.topics import Topic

# How long an idle reader sleeps between looks, growing while nothing arrives: a
# fresh record is seen within milliseconds, an idle one costs little CPU.
IDLE_SLEEP_S = (0.002, 0.01, 0.02, 0.05)


def idle_sleep_s(idle: int) -> float:
    """The pause after ``idle`` empty looks in a row."""
    return IDLE_SLEEP_S[min(idle, len(IDLE_SLEEP_S) - 1)]


def append(
    conn: sqlite3.Connection,
    records: Sequence[Outgoing],
    partitions_of: Callable[[Topic], int],
) -> list[Position]:
    """Append inside the caller's write transaction: offsets come from ``heads``
    under the write lock, so they are dense and never reordered."""
    heads: dict[TopicPartition, int] = {}
    rows = []
    positions = []
    now = now_ms()
    for rec in records:
        partition = partition_for(rec.key, partitions_of(rec.topic))
        tp = (rec.topic.name, partition)
        offset = heads.get(tp)
        if offset is None:
            row = conn.execute(
                "SELECT next_offset FROM heads WHERE topic = ? AND partition = ?", tp
            ).fetchone()
            offset = int(row[0])
        heads[tp] = offset + 1
        rows.append((tp[0], partition, offset, rec.key, rec.value, now))
        positions.append(Position(tp[0], partition, offset))
    conn.executemany("INSERT INTO log VALUES (?, ?, ?, ?, ?, ?)", rows)
    conn.executemany(
        "UPDATE heads SET next_offset = ? WHERE topic = ? AND partition = ?",
        [(n, t, p) for (t, p), n in heads.items()],
    )
    return positions


def heads(conn: sqlite3.Connection, tps: Mapping[TopicPartition, int]) -> dict[TopicPartition, int]:
    """The next offset of each partition in ``tps`` (0 for one never written)."""
    out = {}
    for tp in tps:
        row = conn.execute(
            "SELECT next_offset FROM heads WHERE topic = ? AND partition = ?", tp
        ).fetchone()
        out[tp] = 0 if row is None else int(row[0])
    return out


def fetch(
    conn: sqlite3.Connection, tp: TopicPartition, start: int, limit: int, end: int | None
) -> list[Record]:
    """Up to ``limit`` records of ``tp`` from offset ``start``, below ``end`` if given."""
    rows = conn.execute(
        "SELECT offset, key, value, timestamp_ms FROM log WHERE topic = ? AND partition = ?"
        " AND offset >= ? AND offset < ? ORDER BY offset LIMIT ?",
        (tp[0], tp[1], start, end if end is not None else 2**62, limit),
    ).fetchall()
    return [Record(tp[0], tp[1], int(o), k, v, int(ts)) for o, k, v, ts in rows]
