"""The embedded read store: the projections in one SQLite file (WAL).

Why this is safe for exactly-once: rows and offsets commit in one SQLite transaction,
and a WAL commit is atomic even with ``synchronous=NORMAL`` — a power cut may lose
the last few commits, but rows and offsets are lost *together*, so the projector
simply projects them again. The projection is rebuildable from the log anyway, so
paying for ``FULL`` here would buy nothing.

Writers take the write lock up front (``BEGIN IMMEDIATE``), which serializes two
projector processes on one file; readers get one snapshot per query (``BEGIN``), so
a gateway in another process never sees half a batch. Calls run on the event loop
thread like the embedded log's: they are short, local transactions.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from covenant.errors import StoreError
from covenant.store._schema import Dialect, Param, time_text
from covenant.store._sql import SqlReadStore

# Errors that retrying cannot fix: the data or the SQL itself is wrong.
_PERMANENT = (sqlite3.IntegrityError, sqlite3.DataError, sqlite3.ProgrammingError)


def _value(param: Param) -> Param:
    return time_text(param) if isinstance(param, datetime) else param


class _SqliteTx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, *params: Param) -> None:
        self._conn.execute(sql, [_value(p) for p in params])

    async def executemany(self, sql: str, rows: Sequence[Sequence[Param]]) -> None:
        if rows:
            self._conn.executemany(sql, [[_value(p) for p in row] for row in rows])

    async def fetch(self, sql: str, *params: Param) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self._conn.execute(sql, [_value(p) for p in params])]


def _translate(exc: sqlite3.Error, what: str) -> StoreError:
    return StoreError(f"read store at {what}: {exc}", retriable=not isinstance(exc, _PERMANENT))


class SqliteReadStore(SqlReadStore):
    """The embedded ``ReadStore`` over one SQLite file.

    Args:
        path: the database file; its folder is created on open.
        busy_timeout_ms: how long a writer waits for another process's lock.
    """

    dialect: ClassVar[Dialect] = "sqlite"

    def __init__(self, path: Path, *, busy_timeout_ms: int = 10_000) -> None:
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._conn: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()

    @property
    def path(self) -> Path:
        return self._path

    @property
    def _connected(self) -> bool:
        return self._conn is not None

    async def _connect(self) -> None:
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(
                f"cannot open the read store at {self._path}: {exc}", retriable=False
            ) from exc
        self._conn = conn

    async def __aexit__(self, *exc: object) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError("the read store is not open; use 'async with'", retriable=False)
        return self._conn

    @asynccontextmanager
    async def _writing(self, lock: str) -> AsyncIterator[_SqliteTx]:
        async with self._transaction("BEGIN IMMEDIATE") as tx:
            yield tx

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[_SqliteTx]:
        async with self._transaction("BEGIN") as tx:
            yield tx

    @asynccontextmanager
    async def _transaction(self, begin: str) -> AsyncIterator[_SqliteTx]:
        async with self._lock:
            conn = self._db()
            try:
                conn.execute(begin)
            except sqlite3.Error as exc:
                raise _translate(exc, str(self._path)) from exc
            try:
                yield _SqliteTx(conn)
            except BaseException as exc:
                conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise _translate(exc, str(self._path)) from exc
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                conn.execute("ROLLBACK")
                raise _translate(exc, str(self._path)) from exc
