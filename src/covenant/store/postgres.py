"""The production read store: the projections in PostgreSQL, through asyncpg.

* One transaction per ``apply``: rows and offsets commit together, so a crash of
  the projector, of the connection or of the server loses or repeats nothing.
* Writers of one projection are serialized by a transaction-scoped advisory lock
  taken before the offsets are read: two projector processes on one database
  therefore never apply the same batch twice (the second sees the first's
  offsets). Schema changes take their own lock, so concurrent opens cannot race
  on ``CREATE TABLE IF NOT EXISTS``.
* Queries run in ``REPEATABLE READ`` read-only transactions: one snapshot each.
* SQLSTATE classes 22 (data), 23 (constraint), 28 (authentication), 3D (no such
  database) and 42 (SQL) are bad data, bugs or settings and not retriable;
  everything else (connection loss, serialization failures, a restarting server)
  is.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, ClassVar

import asyncpg  # type: ignore[import-untyped, unused-ignore]

from covenant.errors import StoreError
from covenant.store._schema import Dialect, Param
from covenant.store._sql import SqlReadStore

_PERMANENT_CLASSES = frozenset({"22", "23", "28", "3D", "42"})
_PLACEHOLDER = re.compile(r"\?")


def _numbered(sql: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$1, $2, …`` (our SQL has no ``?`` literals)."""
    counter = iter(range(1, 1 + sql.count("?")))
    return _PLACEHOLDER.sub(lambda _: f"${next(counter)}", sql)


class _PostgresTx:
    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def execute(self, sql: str, *params: Param) -> None:
        await self._conn.execute(_numbered(sql), *params)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Param]]) -> None:
        if rows:
            await self._conn.executemany(_numbered(sql), rows)

    async def fetch(self, sql: str, *params: Param) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in await self._conn.fetch(_numbered(sql), *params)]


def _translate(exc: Exception) -> StoreError:
    sqlstate = str(getattr(exc, "sqlstate", "") or "")
    permanent = sqlstate[:2] in _PERMANENT_CLASSES
    return StoreError(f"PostgreSQL read store: {exc}", retriable=not permanent)


class PostgresReadStore(SqlReadStore):
    """The PostgreSQL ``ReadStore``.

    Args:
        dsn: ``postgresql://user[:password]@host[:port]/database``.
        min_size: connections the pool keeps open.
        max_size: connections the pool may open (queries run concurrently; writes
            of one projection queue on its lock).
    """

    dialect: ClassVar[Dialect] = "postgresql"

    def __init__(self, dsn: str, *, min_size: int = 1, max_size: int = 4) -> None:
        self._dsn = dsn
        self._min_size = min_size
        self._max_size = max_size
        self._pool: Any = None

    @property
    def _connected(self) -> bool:
        return self._pool is not None

    async def _connect(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self._dsn, min_size=self._min_size, max_size=self._max_size
            )
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise _translate(exc) from exc

    async def __aexit__(self, *exc: object) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def reset(self) -> None:
        await super().reset()
        # Statements prepared against the dropped tables must not be reused.
        await self._require_pool().expire_connections()

    def _require_pool(self) -> Any:
        if self._pool is None:
            raise StoreError("the read store is not open; use 'async with'", retriable=False)
        return self._pool

    @asynccontextmanager
    async def _writing(self, lock: str) -> AsyncIterator[_PostgresTx]:
        async with self._transaction(lock=lock) as tx:
            yield tx

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[_PostgresTx]:
        async with self._transaction(lock=None) as tx:
            yield tx

    @asynccontextmanager
    async def _transaction(self, *, lock: str | None) -> AsyncIterator[_PostgresTx]:
        try:
            async with self._require_pool().acquire() as conn:
                if lock is None:
                    transaction = conn.transaction(isolation="repeatable_read", readonly=True)
                else:
                    transaction = conn.transaction()
                async with transaction:
                    if lock is not None:
                        await conn.execute(
                            "SELECT pg_advisory_xact_lock(hashtext($1))", f"covenant.store:{lock}"
                        )
                    yield _PostgresTx(conn)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            raise _translate(exc) from exc
