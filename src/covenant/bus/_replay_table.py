"""A ``TableReader`` for any log whose ``read`` is cheap to start: each catch-up is
one bounded ``read`` from the positions the previous one reached.

The embedded log uses it (a read is one SQLite snapshot). Kafka does not: a read
there starts a consumer, so it keeps one open instead (``kafka._table``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Self

from covenant.bus.protocol import Record, TopicPartition
from covenant.topics import Topic

if TYPE_CHECKING:
    from covenant.bus.protocol import Bus


class ReplayTable:
    """Catches up by replaying from the last positions reached."""

    def __init__(self, bus: Bus, topics: tuple[Topic, ...]) -> None:
        self._bus = bus
        self._topics = topics
        self._positions: dict[TopicPartition, int] = {}

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def catch_up(self) -> list[Record]:
        records = [r async for r in self._bus.read(self._topics, start=self._positions)]
        for record in records:
            self._positions[(record.topic, record.partition)] = record.offset + 1
        return records

    async def rewind(self) -> None:
        self._positions.clear()
