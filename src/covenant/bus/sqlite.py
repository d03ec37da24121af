"""The embedded log: an append-only, partitioned log in one SQLite file (WAL).

Why SQLite: one file, no server, safe for several processes on one machine, and a
transaction that covers both "append these outputs" and "store this offset" is
exactly the atomic consume→produce the runtime needs.

Design choices, written down because they are promises:

* Durability: ``synchronous=FULL`` — ``publish`` returns after the commit is on disk.
* Ordering: per (topic, partition); offsets are dense and assigned under the
  write lock (``BEGIN IMMEDIATE``), so there are no gaps and no reordering.
* Groups: one live member owns *all* partitions of a group (embedded means one
  machine; parallelism comes from Kafka). Ownership is a row with a generation
  number; a new member takes over when the owner's process is gone (checked by
  pid, since every member is on this machine) or its heartbeat is older than the
  lease. ``commit`` checks the generation inside its transaction, so a stale
  owner is fenced and can never write.
* Calls run on the event loop thread: they are short, local transactions; a
  writer waits for the lock at most ``busy_timeout_ms``.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from covenant.bus.partitioner import partition_for
from covenant.bus.protocol import Outgoing, Position, Record, TopicPartition
from covenant.errors import BusError, ConfigError, FencedError
from covenant.topics import Topic

_SCHEMA = """
CREATE TABLE IF NOT EXISTS topics (
    name TEXT PRIMARY KEY, partitions INTEGER NOT NULL, retention_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS heads (
    topic TEXT NOT NULL, partition INTEGER NOT NULL, next_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, partition)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log (
    topic TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL,
    key BLOB, value BLOB NOT NULL, timestamp_ms INTEGER NOT NULL,
    PRIMARY KEY (topic, partition, offset)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS group_offsets (
    group_id TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (group_id, topic, partition)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS group_owner (
    group_id TEXT PRIMARY KEY, member TEXT NOT NULL, host TEXT NOT NULL,
    pid INTEGER NOT NULL, generation INTEGER NOT NULL, heartbeat_ms INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS log_is_append_only BEFORE UPDATE ON log
BEGIN SELECT RAISE(ABORT, 'the log is append-only'); END;
"""

LEASE_MS = 15_000
_IDLE_SLEEP_S = (0.002, 0.01, 0.02, 0.05)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


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
        self._queued: list[tuple[Sequence[Outgoing], asyncio.Future[list[Position]]]] = []
        self._committer: asyncio.Task[None] | None = None

    @property
    def path(self) -> Path:
        return self._path

    def connect(self) -> sqlite3.Connection:
        """Open a connection with the log's pragmas (each consumer has its own, so
        a reader never sees another member's uncommitted transaction)."""
        self._path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        return conn

    async def __aenter__(self) -> Self:
        if self._conn is None:
            try:
                self._conn = self.connect()
                self._conn.executescript(_SCHEMA)
            except sqlite3.Error as exc:
                raise ConfigError(f"cannot open the embedded log at {self._path}: {exc}") from exc
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise BusError("the embedded log is not open; use 'async with'", retriable=False)
        return self._conn

    async def ensure_topics(self, topics: Sequence[Topic]) -> None:
        with _Transaction(self._db):
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

    def append(self, conn: sqlite3.Connection, records: Sequence[Outgoing]) -> list[Position]:
        """Append inside the caller's write transaction."""
        heads: dict[TopicPartition, int] = {}
        rows = []
        positions = []
        now = _now_ms()
        for rec in records:
            partition = partition_for(rec.key, self.partitions_of(rec.topic, conn))
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

    async def publish(self, records: Sequence[Outgoing]) -> list[Position]:
        """Group commit: publishes that arrive while one is waiting to commit join
        its transaction, so many concurrent callers (a busy gateway) share one
        fsync. Each still returns only once its records are durable."""
        waiter: asyncio.Future[list[Position]] = asyncio.get_running_loop().create_future()
        self._queued.append((records, waiter))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_queued())
        return await waiter

    async def _commit_queued(self) -> None:
        await asyncio.sleep(0)  # one turn of the loop: let concurrent publishers join
        while self._queued:
            group, self._queued = self._queued, []
            try:
                with _Transaction(self._db):
                    results = [self.append(self._db, records) for records, _ in group]
            except Exception:  # one bad caller must not fail the others: retry alone
                results = None
            if results is not None:
                for (_, waiter), positions in zip(group, results, strict=True):
                    if not waiter.done():
                        waiter.set_result(positions)
                continue
            for records, waiter in group:  # alone, so each gets its own answer
                try:
                    with _Transaction(self._db):
                        positions = self.append(self._db, records)
                except Exception as exc:  # handed to its caller
                    if not waiter.done():
                        waiter.set_exception(exc)
                else:
                    if not waiter.done():
                        waiter.set_result(positions)

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
        positions: dict[TopicPartition, int] = {}
        for topic in topics:
            for p in range(self.partitions_of(topic)):
                positions[(topic.name, p)] = 0
        ends = _heads(self._db, positions)
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
                for rec in _fetch(self._db, tp, pos, 1000, limit):
                    found = True
                    positions[tp] = rec.offset + 1
                    yield rec
            if not follow and all(positions[tp] >= ends[tp] for tp in positions):
                return
            if follow and not found:
                await asyncio.sleep(_IDLE_SLEEP_S[min(idle, len(_IDLE_SLEEP_S) - 1)] * 5)
                idle += 1
            else:
                idle = 0

    async def end_offsets(self, topic: Topic) -> dict[int, int]:
        tps = {(topic.name, p): 0 for p in range(self.partitions_of(topic))}
        return {p: n for (_, p), n in _heads(self._db, tps).items()}

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


class SqliteGroupConsumer:
    """The embedded group member: see the module docstring for ownership."""

    def __init__(self, bus: SqliteBus, *, group: str, topics: Sequence[Topic], member: str) -> None:
        self._bus = bus
        self._group = group
        self._topics = tuple(topics)
        self._member = member
        self._conn: sqlite3.Connection | None = None
        self._generation = -1
        self._positions: dict[TopicPartition, int] = {}
        self._last_heartbeat = 0
        self._idle = 0

    async def __aenter__(self) -> Self:
        self._conn = self._bus.connect()
        while not self._try_acquire(self._conn):  # noqa: ASYNC110 - polling another process
            await asyncio.sleep(0.2)
        await self.rewind()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._conn is None:
            return
        try:
            with _Transaction(self._conn):
                self._conn.execute(
                    "DELETE FROM group_owner WHERE group_id = ? AND generation = ?",
                    (self._group, self._generation),
                )
        finally:
            self._conn.close()
            self._conn = None

    def _try_acquire(self, conn: sqlite3.Connection) -> bool:
        with _Transaction(conn):
            row = conn.execute(
                "SELECT host, pid, generation, heartbeat_ms FROM group_owner WHERE group_id = ?",
                (self._group,),
            ).fetchone()
            generation = 0
            if row is not None:
                host, pid, generation, heartbeat = row
                if _alive(host, int(pid)) and _now_ms() - int(heartbeat) < LEASE_MS:
                    return False
            self._generation = int(generation) + 1
            conn.execute(
                "INSERT OR REPLACE INTO group_owner VALUES (?, ?, ?, ?, ?, ?)",
                (
                    self._group,
                    self._member,
                    socket.gethostname(),
                    os.getpid(),
                    self._generation,
                    _now_ms(),
                ),
            )
            self._last_heartbeat = _now_ms()
            return True

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise BusError("consumer is not open; use 'async with'", retriable=False)
        return self._conn

    async def positions(self) -> dict[TopicPartition, int]:
        return dict(self._positions)

    async def rewind(self) -> None:
        positions: dict[TopicPartition, int] = {}
        for topic in self._topics:
            for p in range(self._bus.partitions_of(topic, self._db)):
                positions[(topic.name, p)] = 0
        for topic_name, p, n in self._db.execute(
            "SELECT topic, partition, next_offset FROM group_offsets WHERE group_id = ?",
            (self._group,),
        ):
            if (topic_name, p) in positions:
                positions[(topic_name, p)] = int(n)
        self._positions = positions

    async def poll(self, *, max_records: int, timeout_s: float) -> list[Record]:
        deadline = time.monotonic() + timeout_s
        while True:
            self._heartbeat()
            out: list[Record] = []
            # One read transaction: every partition is read from the same snapshot,
            # in the order the topics were given. A worker that lists the event
            # topics it folds before its command topic therefore never sees a
            # command without the facts committed before that command was written.
            self._db.execute("BEGIN")
            try:
                for tp, pos in self._positions.items():
                    room = max_records - len(out)
                    if room <= 0:
                        break
                    out.extend(_fetch(self._db, tp, pos, room, None))
            finally:
                self._db.execute("COMMIT")
            if out:
                self._idle = 0
                for rec in out:
                    self._positions[(rec.topic, rec.partition)] = rec.offset + 1
                return out
            if time.monotonic() >= deadline:
                return out
            await asyncio.sleep(_IDLE_SLEEP_S[min(self._idle, len(_IDLE_SLEEP_S) - 1)])
            self._idle += 1

    def _heartbeat(self) -> None:
        now = _now_ms()
        if now - self._last_heartbeat < LEASE_MS // 5:
            return
        with _Transaction(self._db):
            self._check_owner()
            self._db.execute(
                "UPDATE group_owner SET heartbeat_ms = ? WHERE group_id = ?", (now, self._group)
            )
        self._last_heartbeat = now

    def _check_owner(self) -> None:
        row = self._db.execute(
            "SELECT generation FROM group_owner WHERE group_id = ?", (self._group,)
        ).fetchone()
        if row is None or int(row[0]) != self._generation:
            raise FencedError(
                f"group {self._group!r} was taken over by another member (generation "
                f"{None if row is None else row[0]}, ours {self._generation})"
            )

    async def commit(
        self, *, outputs: Sequence[Outgoing], offsets: Mapping[TopicPartition, int]
    ) -> None:
        with _Transaction(self._db):
            self._check_owner()
            if outputs:
                self._bus.append(self._db, outputs)
            self._db.executemany(
                "INSERT OR REPLACE INTO group_offsets VALUES (?, ?, ?, ?)",
                [(self._group, t, p, n) for (t, p), n in offsets.items()],
            )


class _Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any error, with sqlite3
    errors translated into ``BusError`` (retriable: a lock timeout may clear)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise BusError(f"embedded log is busy: {exc}") from exc

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self._conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise BusError(f"embedded log write failed: {exc}") from exc
            return
        try:
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._conn.execute("ROLLBACK")
            raise BusError(f"embedded log commit failed: {exc}") from exc


def _heads(
    conn: sqlite3.Connection, tps: Mapping[TopicPartition, int]
) -> dict[TopicPartition, int]:
    out = {}
    for tp in tps:
        row = conn.execute(
            "SELECT next_offset FROM heads WHERE topic = ? AND partition = ?", tp
        ).fetchone()
        out[tp] = 0 if row is None else int(row[0])
    return out


def _fetch(
    conn: sqlite3.Connection, tp: TopicPartition, start: int, limit: int, end: int | None
) -> list[Record]:
    rows = conn.execute(
        "SELECT offset, key, value, timestamp_ms FROM log WHERE topic = ? AND partition = ?"
        " AND offset >= ? AND offset < ? ORDER BY offset LIMIT ?",
        (tp[0], tp[1], start, end if end is not None else 2**62, limit),
    ).fetchall()
    return [Record(tp[0], tp[1], int(o), k, v, int(ts)) for o, k, v, ts in rows]


def _alive(host: str, pid: int) -> bool:
    """Whether a group owner still runs; owners on another host count as alive and
    fall back to the heartbeat lease."""
    if host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
