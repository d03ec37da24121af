"""Group commit: publishes that arrive while one is waiting to commit join its
transaction, so many concurrent callers (a busy gateway) share one fsync. Each
caller still returns only once its own records are durable, and one bad caller
(a record for an undeclared topic) fails alone."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence

from covenant.bus.protocol import Outgoing, Position
from covenant.bus.sqlite._connection import Transaction

Append = Callable[[sqlite3.Connection, Sequence[Outgoing]], list[Position]]


class GroupCommit:
    """The queue of waiting publishes and the one task that commits them.

    Args:
        db: the bus's connection, asked for at each commit (the bus may be closed).
        append: writes records inside an open write transaction.
    """

    def __init__(self, db: Callable[[], sqlite3.Connection], append: Append) -> None:
        self._db = db
        self._append = append
        self._queued: list[tuple[Sequence[Outgoing], asyncio.Future[list[Position]]]] = []
        self._committer: asyncio.Task[None] | None = None

    async def publish(self, records: Sequence[Outgoing]) -> list[Position]:
        """Queue ``records`` and wait until the transaction holding them commits."""
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
                db = self._db()  # inside: a closed bus answers every waiter
                with Transaction(db):
                    results = [self._append(db, records) for records, _ in group]
            except Exception:  # one bad caller must not fail the others: retry alone
                results = None
            if results is not None:
                for (_, waiter), positions in zip(group, results, strict=True):
                    if not waiter.done():
                        waiter.set_result(positions)
                continue
            for records, waiter in group:  # alone, so each gets its own answer
                try:
                    db = self._db()
                    with Transaction(db):
                        positions = self._append(db, records)
                except Exception as exc:  # handed to its caller
                    if not waiter.done():
                        waiter.set_exception(exc)
                else:
                    if not waiter.done():
                        waiter.set_result(positions)
