"""The file itself: its schema, the pragmas every connection needs, and the write
transaction that turns sqlite3's errors into ``BusError``."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from types import TracebackType

from covenant.errors import BusError

SCHEMA = """
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


def now_ms() -> int:
    """Wall-clock milliseconds: record timestamps and heartbeats are compared
    across processes, so a monotonic clock would not do."""
    return time.time_ns() // 1_000_000


def connect(path: Path, *, busy_timeout_ms: int) -> sqlite3.Connection:
    """Open a connection with the log's pragmas; its folder is created if missing.
    Autocommit mode (``isolation_level=None``): every transaction is explicit."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    return conn


def opened(conn: sqlite3.Connection | None, what: str) -> sqlite3.Connection:
    """``conn``, or, when it is None, a ``BusError`` saying that ``what`` is not open."""
    if conn is None:
        raise BusError(f"{what} is not open; use 'async with'", retriable=False)
    return conn


class Transaction:
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
