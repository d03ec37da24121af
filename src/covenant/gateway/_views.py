"""What the gateway's in-memory views share: a worker's fold, read again as global tables.

Each view (jobs, evaluations, promotions) folds some fact topics into a state, rebuilt
from offset 0 when the gateway starts and caught up before every read: a read barrier,
so a read after a 201 sees what the 201 announced. ``catch_up`` runs one at a time; the
readers behind the first find it done.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Generic, TypeVar

from covenant.bus.protocol import Bus
from covenant.events.codec import Codec
from covenant.runtime.tables import GlobalTables
from covenant.runtime.worker import WorkerState
from covenant.topics import Topic

S = TypeVar("S", bound=WorkerState)


class TableView(Generic[S]):
    """A state folded from its topics; ``start`` rebuilds it, ``catch_up`` is the barrier."""

    def __init__(self, *, bus: Bus, codec: Codec, state: S) -> None:
        self._bus = bus
        self._codec = codec
        self._state = state
        self._tables: GlobalTables | None = None
        self._stack = contextlib.AsyncExitStack()
        self._lock = asyncio.Lock()

    @property
    def topics(self) -> tuple[Topic, ...]:
        """The topics the view is folded from."""
        return self._state.topics

    async def start(self) -> None:
        """Open the table reader and fold everything on the topics so far."""
        if self._tables is None:
            reader = await self._stack.enter_async_context(self._bus.table(self._state.topics))
            self._tables = GlobalTables(
                self._state, table=reader, codec=self._codec, worker="gateway"
            )
            await self._tables.rebuild()

    async def stop(self) -> None:
        """Close the reader; stopping twice is harmless."""
        self._tables = None
        await self._stack.aclose()

    async def catch_up(self) -> None:
        """Fold every record committed before this call.

        Raises:
            BusError: the log could not be read (the gateway answers 503).
        """
        async with self._lock:
            if self._tables is not None:
                await self._tables.catch_up()
