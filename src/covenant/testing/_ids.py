"""Event ids a test can predict, that are still what the rest of Covenant expects.

Covenant reads event ids in a few places that care about their shape: the audit
trail's fast verification path reads them as 36 bytes, OpenLineage run ids must be
UUIDs (ours are version 7), and the read store keeps the registration with the
smallest id as the earliest. So a test id is a canonical UUIDv7 string whose bits
are a counter, and ids from one source sort in the order they were made.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime
from typing import Final

__all__ = ["SequentialIds"]

_BASE_MS: Final = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp() * 1000)
_COUNTER_BITS: Final = 62  # ``rand_b``: what is left of the 128 bits after the fixed fields
_MAX: Final = (1 << _COUNTER_BITS) - 1


class SequentialIds:
    """UUIDv7-shaped ids from a counter: ``01941f29-7c00-7000-8000-000000000001``,
    then ``…002``, and so on.

    The 48-bit timestamp is fixed (2025-01-01T00:00:00Z), the version is 7 and the
    variant RFC 9562's, and the counter fills ``rand_b`` in hex, so the number shows
    at the end of the id. Two sources started alike produce the same ids: give each
    its own ``start`` when ids from both meet in one log.

    Args:
        start: the number of the first id (1 unless told otherwise).
    """

    def __init__(self, start: int = 1) -> None:
        if not 0 <= start <= _MAX:
            raise ValueError(f"start must be between 0 and 2**{_COUNTER_BITS} - 1, got {start}")
        self._next = itertools.count(start)

    def new_id(self) -> str:
        """The next id.

        Raises:
            OverflowError: the counter passed 2**62 - 1 (no test gets there).
        """
        return self.id_of(next(self._next))

    @staticmethod
    def id_of(n: int) -> str:
        """The id a source hands out as its number ``n``: for asserting on ids
        (``causation_id == SequentialIds.id_of(1)``) without keeping every message.

        Raises:
            OverflowError: ``n`` does not fit the 62 counter bits.
        """
        if not 0 <= n <= _MAX:
            raise OverflowError(f"id number {n} does not fit {_COUNTER_BITS} bits")
        value = (_BASE_MS << 80) | (0x7 << 76) | (0b10 << 62) | n
        return str(uuid.UUID(int=value))
