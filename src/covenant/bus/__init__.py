"""The log: one protocol, an embedded SQLite implementation and a Kafka one."""

from __future__ import annotations

from covenant.bus._closing import closing
from covenant.bus._open import open_bus
from covenant.bus.protocol import Bus, GroupConsumer, Outgoing, Position, Record, TableReader

__all__ = [
    "Bus",
    "GroupConsumer",
    "Outgoing",
    "Position",
    "Record",
    "TableReader",
    "closing",
    "open_bus",
]
