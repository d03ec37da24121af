"""Closing a ``Bus.read`` iterator when its reader is done with it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from covenant.bus.protocol import Record


@contextlib.asynccontextmanager
async def closing(records: AsyncIterator[Record]) -> AsyncIterator[AsyncIterator[Record]]:
    """Close the log's reader when the block ends, also on cancellation, so a Kafka
    reader's consumer stops at once rather than when the generator is collected
    (``Bus.read`` promises an iterator, not ``aclose``)."""
    try:
        yield records
    finally:
        close = getattr(records, "aclose", None)
        if close is not None:
            await close()
