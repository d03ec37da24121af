"""The embedded ``Bus``: topics, publishing, reading outside a group, and what
the log knows about groups. See the package docstring for its promises."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Self

from covenant.bus._replay_table import ReplayTable
from covenant.bus.protocol import Outgoing, Position, Record, TopicPartition
from covenant.bus.sqlite import _log
from covenant.bus.sqlite._connection import SCHEMA, Transaction, connect, opened
from covenant.bus.sqlite._consumer import SqliteGroupConsumer
from covenant.bus.sqlite._publish import GroupCommit
from covenant.errors import BusError, ConfigError
from covenant.topics import Topic


class SqliteBus:
    """The embedded ``Bus`` over one SQLite file.

    Args:
        path: the database file; its folder is created if missing.
        busy_timeout_ms: how long a writer waits for another process's lock.
    """

    def __init__(self, path: Path, *, busy_timeout_ms: int = 10_000) -> None:
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._conn: sqlite3.Connection | None = None
        self._partitions: dict[str, int] = {}
        self._group_commit = GroupCommit(lambda: self._db, self.append)

    @property
    def path(self) -> Path:
        return self._path

    def connect(self) -> sqlite3.Connection:
        """Open a connection with the log's pragmas (each consumer has its own, so
        a reader never sees another member's uncommitted transaction)."""
        return connect(self._path, busy_timeout_ms=self._busy_timeout_ms)

    async def __aenter__(self) -> Self:
        if self._conn is None:
            try:
                self._conn = self.connect()
                self._conn.executescript(SCHEMA)
            except sqlite3.Error as exc:
                raise ConfigError(f"cannot open the embedded log at {self._path}: {exc}") from exc
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @property
    def _db(self) -> sqlite3.Connection:
        return opened(self._conn, "the embedded log")

    async def ensure_topics(self, topics: Sequence[Topic]) -> None:
        with Transaction(self._db):
            for topic in topics:
                self._db.execute(
                    "INSERT OR IGNORE INTO topics VALUES (?, ?, ?)",
                    (topic.name, topic.partitions, topic.retention_ms),
                )
                self._db.executemany(
                    "INSERT OR IGNORE INTO heads VALUES (?, ?, 0)",
                    [(topic.name, p) for p in range(topic.partitions)],
                )

    def partitions_of(self, topic: Topic, conn: sqlite3.Connection | None = None) -> int:
        """Partition count as the log has it (the declared count if it was created
        here first); unknown topics are an error that says to create them."""
        cached = self._partitions.get(topic.name)
        if cached is not None:
            return cached
        row = (
            (conn or self._db)
            .execute("SELECT partitions FROM topics WHERE name = ?", (topic.name,))
            .fetchone()
        )
        if row is None:
            raise BusError(
                f"topic {topic.name!r} does not exist; run 'covenant up' or ensure_topics first",
                retriable=False,
            )
        self._partitions[topic.name] = int(row[0])
        return int(row[0])

    def starts(
        self, topics: Sequence[Topic], conn: sqlite3.Connection | None = None
    ) -> dict[TopicPartition, int]:
        """Every partition of ``topics`` (as the log has them), at offset 0."""
        return {
            (topic.name, p): 0 for topic in topics for p in range(self.partitions_of(topic, conn))
        }

    def append(self, conn: sqlite3.Connection, records: Sequence[Outgoing]) -> list[Position]:
        """Append inside the caller's write transaction."""
        return _log.append(conn, records, lambda topic: self.partitions_of(topic, conn))

    async def publish(self, records: Sequence[Outgoing]) -> list[Position]:
        """Group commit (see ``_publish``): concurrent callers share one fsync, and
        each returns only once its records are durable."""
        return await self._group_commit.publish(records)

    def consumer(
        self, *, group: str, topics: Sequence[Topic], instance: str = "0"
    ) -> SqliteGroupConsumer:
        return SqliteGroupConsumer(self, group=group, topics=topics, member=instance)

    async def read(
        self,
        topics: Sequence[Topic],
        *,
        follow: bool = False,
        from_end: bool = False,
        start: Mapping[TopicPartition, int] | None = None,
    ) -> AsyncIterator[Record]:
        positions = self.starts(topics)
        ends = _log.heads(self._db, positions)
        if from_end:
            positions = dict(ends)
        elif start is not None:
            positions = {tp: start.get(tp, 0) for tp in positions}
        idle = 0
        while True:
            found = False
            for tp, pos in positions.items():
                limit = None if follow else ends[tp]
                if limit is not None and pos >= limit:
                    continue
                for rec in _log.fetch(self._db, tp, pos, 1000, limit):
                    found = True
                    positions[tp] = rec.offset + 1
                    yield rec
            if not follow and all(positions[tp] >= ends[tp] for tp in positions):
                return
            if follow and not found:
                await asyncio.sleep(_log.idle_sleep_s(idle) * 5)
                idle += 1
            else:
                idle = 0

    def table(self, topics: Sequence[Topic]) -> ReplayTable:
        # A read is one snapshot of the file: replaying from the last positions is
        # as cheap as keeping a reader open.
        return ReplayTable(self, tuple(topics))

    async def end_offsets(self, topic: Topic) -> dict[int, int]:
        return {p: n for (_, p), n in _log.heads(self._db, self.starts([topic])).items()}

    async def committed(self, *, group: str, topic: Topic) -> dict[int, int]:
        rows = self._db.execute(
            "SELECT partition, next_offset FROM group_offsets WHERE group_id = ? AND topic = ?",
            (group, topic.name),
        ).fetchall()
        return {int(p): int(n) for p, n in rows}

    async def groups(self) -> list[str]:
        rows = self._db.execute(
            "SELECT DISTINCT group_id FROM group_offsets ORDER BY group_id"
        ).fetchall()
        return [str(r[0]) for r in rows]
