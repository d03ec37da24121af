"""The embedded group member: see ``_membership`` for who owns a group."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Self

from covenant.bus.protocol import Outgoing, Record, TopicPartition
from covenant.bus.sqlite._connection import Transaction, opened
from covenant.bus.sqlite._log import fetch, idle_sleep_s
from covenant.bus.sqlite._membership import Membership
from covenant.topics import Topic

if TYPE_CHECKING:
    from covenant.bus.sqlite._bus import SqliteBus


class SqliteGroupConsumer:
    """The embedded group member, with its own connection: a reader never sees
    another member's uncommitted transaction."""

    def __init__(self, bus: SqliteBus, *, group: str, topics: Sequence[Topic], member: str) -> None:
        self._bus = bus
        self._group = group
        self._topics = tuple(topics)
        self._membership = Membership(group, member)
        self._conn: sqlite3.Connection | None = None
        self._positions: dict[TopicPartition, int] = {}
        self._idle = 0

    async def __aenter__(self) -> Self:
        self._conn = self._bus.connect()
        while not self._membership.try_acquire(self._conn):  # noqa: ASYNC110 - polling another process
            await asyncio.sleep(0.2)
        await self.rewind()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._conn is None:
            return
        try:
            self._membership.release(self._conn)
        finally:
            self._conn.close()
            self._conn = None

    @property
    def _db(self) -> sqlite3.Connection:
        return opened(self._conn, "consumer")

    async def positions(self) -> dict[TopicPartition, int]:
        return dict(self._positions)

    async def rewind(self) -> None:
        positions = self._bus.starts(self._topics, self._db)
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
            self._membership.heartbeat(self._db)
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
                    out.extend(fetch(self._db, tp, pos, room, None))
            finally:
                self._db.execute("COMMIT")
            if out:
                self._idle = 0
                for rec in out:
                    self._positions[(rec.topic, rec.partition)] = rec.offset + 1
                return out
            if time.monotonic() >= deadline:
                return out
            await asyncio.sleep(idle_sleep_s(self._idle))
            self._idle += 1

    async def commit(
        self, *, outputs: Sequence[Outgoing], offsets: Mapping[TopicPartition, int]
    ) -> None:
        with Transaction(self._db):
            self._membership.check(self._db)
            if outputs:
                self._bus.append(self._db, outputs)
            self._db.executemany(
                "INSERT OR REPLACE INTO group_offsets VALUES (?, ?, ?, ?)",
                [(self._group, t, p, n) for (t, p), n in offsets.items()],
            )
