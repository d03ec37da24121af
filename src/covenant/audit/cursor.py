"""Reading the log in the audit worker's order.

The log orders records only within a partition; the audit trail orders all of them
(leaf order). Exporting and live verification walk the audit topic and need, for each
leaf, the next record of that leaf's partition. ``LogCursor`` reads every audited topic
once, front to back, and parks records of other partitions until they are asked for.

Memory: what is parked is how far the log's read order runs ahead of the audit order in
other partitions: a few reads' worth in practice (the embedded log reads 1,000 records
per partition at a time, Kafka about 1 MB per partition).
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import AsyncIterator

from covenant.bus.protocol import Record, TopicPartition

__all__ = ["LogCursor"]


class LogCursor:
    """Per-partition look-ahead over one read of the log.

    Args:
        records: ``bus.read(topics)``: every partition in offset order.
    """

    def __init__(self, records: AsyncIterator[Record]) -> None:
        self._records = records
        self._parked: defaultdict[TopicPartition, deque[Record]] = defaultdict(deque)
        self._done = False

    async def peek(self, tp: TopicPartition) -> Record | None:
        """The next unread record of partition ``tp``; None when it has no more."""
        parked = self._parked[tp]
        while not parked:
            if self._done:
                return None
            try:
                rec = await anext(self._records)
            except StopAsyncIteration:
                self._done = True
                return None
            self._parked[(rec.topic, rec.partition)].append(rec)
        return parked[0]

    async def take(self, tp: TopicPartition) -> Record | None:
        """The next unread record of partition ``tp``, consumed; None when none is left."""
        rec = await self.peek(tp)
        if rec is not None:
            self._parked[tp].popleft()
        return rec

    async def count_rest(self) -> int:
        """Consume and count everything not yet taken."""
        n = sum(len(q) for q in self._parked.values())
        self._parked.clear()
        if not self._done:
            async for _ in self._records:
                n += 1
            self._done = True
        return n

    async def aclose(self) -> None:
        """Stop the underlying read (a Kafka reader holds a connection); idempotent."""
        self._done = True
        close = getattr(self._records, "aclose", None)
        if close is not None:
            await close()
