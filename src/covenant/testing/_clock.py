"""Clocks a test controls: one that never moves and one that moves when told.

Both satisfy ``covenant.events.base.Clock`` and are passed explicitly (to
``Message.create``, a ``Context``, the builders), so a test that needs a fixed time
never patches ``datetime`` and two tests never share a clock by accident.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

__all__ = ["DEFAULT_START", "FrozenClock", "ManualClock"]

DEFAULT_START: Final = datetime(2025, 1, 1, tzinfo=UTC)
"""Where a test clock starts unless told otherwise: a round, recognisable moment."""


def _utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive datetime is refused, since guessing its zone would
    make a test pass on one machine and fail on another."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"a test clock needs a timezone-aware datetime, got {moment!r}")
    return moment.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class FrozenClock:
    """A clock stuck at one moment: every record it stamps has the same time.

    Immutable, so one instance may be a module-level constant shared by many tests.

    Args:
        at: the moment it always returns (converted to UTC; naive is refused).
    """

    at: datetime = DEFAULT_START

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", _utc(self.at))

    def now(self) -> datetime:
        """Always ``at``."""
        return self.at


class ManualClock:
    """A clock that stands still until the test moves it, forward or anywhere.

    Mutable on purpose: make one per test (a fixture), never a module constant.

    Args:
        start: the first moment it returns (converted to UTC; naive is refused).
    """

    def __init__(self, start: datetime = DEFAULT_START) -> None:
        self._now = _utc(start)

    def now(self) -> datetime:
        """The moment the clock was last set to."""
        return self._now

    def advance(self, seconds: float = 1.0) -> datetime:
        """Move forward by ``seconds`` (rounded to whole microseconds, the precision
        the log keeps) and return the new time.

        Raises:
            ValueError: ``seconds`` is negative; use ``set`` to go back on purpose.
        """
        if seconds < 0:
            raise ValueError(f"advance goes forward; got {seconds} seconds (use set())")
        self._now += timedelta(seconds=seconds)
        return self._now

    def set(self, moment: datetime) -> None:
        """Jump to ``moment``, earlier or later (to test clock skew, for example)."""
        self._now = _utc(moment)

    def __repr__(self) -> str:
        return f"ManualClock({self._now.isoformat()})"
