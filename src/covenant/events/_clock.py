"""Where a record's ``occurredAt`` and ``eventId`` come from: two small ports.

``Message.create`` takes a ``Clock`` and an ``IdSource`` as keyword arguments that
default to the system ones below. They are parameters, never a module-level "current
clock", so two workers (or two tests) in one process can run on different clocks and
nothing has to be patched to make time and ids deterministic. ``covenant.testing``
has the controllable implementations (``ManualClock``, ``FrozenClock``,
``SequentialIds``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Protocol

from uuid6 import uuid7

__all__ = ["SYSTEM_CLOCK", "UUID7_IDS", "Clock", "IdSource", "SystemClock", "Uuid7Ids"]


class Clock(Protocol):
    """What tells a producer the time."""

    def now(self) -> datetime:
        """The current moment: timezone-aware, in UTC, at microsecond precision (the
        resolution of Avro's ``timestamp-micros``, so it survives the codec exactly)."""
        ...


class IdSource(Protocol):
    """What names a new record."""

    def new_id(self) -> str:
        """A fresh event id, never returned before by this source.

        It must be a UUID in canonical form (36 characters, lower-case hex): the audit
        trail's fast verification path reads event ids as 36 bytes, and the read store
        keeps the registration with the smallest id, so ids from one source must also
        sort (as strings) in the order they were made, as UUIDv7 ids do.
        """
        ...


@dataclass(frozen=True, slots=True)
class SystemClock:
    """The machine's wall clock, in UTC."""

    def now(self) -> datetime:
        """``datetime.now(UTC)``."""
        return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Uuid7Ids:
    """RFC 9562 UUIDv7 ids: time-ordered, so they sort roughly by creation and index
    well. Monotonic within a process (``uuid6`` keeps a counter for ids made in one
    millisecond)."""

    def new_id(self) -> str:
        """A new UUIDv7 as a string."""
        return str(uuid7())


SYSTEM_CLOCK: Final = SystemClock()
"""The default ``clock`` of ``Message.create``; immutable, so sharing it is safe."""

UUID7_IDS: Final = Uuid7Ids()
"""The default ``ids`` of ``Message.create``; immutable, so sharing it is safe."""
