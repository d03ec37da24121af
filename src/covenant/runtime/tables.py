"""Global tables: the facts a worker decides on, read from every partition.

A stateful worker's consumer group splits its *command* partitions between
instances, but the facts a decision depends on (the datasets a model names, the
versions already registered) may sit on any partition. So the state is never
folded from the group's assignment: it is read from every partition of its topics
outside the group, like a Kafka Streams GlobalKTable, and caught up to the topics'
end offsets as of the moment a batch of commands is about to be decided (a read
barrier). No command is judged on facts older than those committed before it was
consumed, whichever instance wrote them.

The worker's own decisions are folded at once as well (``WorkerState.apply`` is
idempotent, so meeting them again in the table costs nothing), so a batch sees
its own earlier commands.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from covenant.bus.protocol import TableReader
from covenant.errors import ContractError
from covenant.events.codec import Codec

if TYPE_CHECKING:
    from covenant.runtime.worker import WorkerState

log = logging.getLogger(__name__)


class GlobalTables:
    """A worker's state, kept caught up with every partition of its fact topics.

    Args:
        state: what the worker folds.
        table: an open reader of every partition of ``state.topics``
            (``Bus.table``); the caller opens and closes it.
    """

    def __init__(self, state: WorkerState, *, table: TableReader, codec: Codec, worker: str):
        self.state = state
        self._table = table
        self._codec = codec
        self._worker = worker

    async def rebuild(self) -> int:
        """Forget everything and fold the topics from offset 0: at start, and after
        a failed commit (whose emitted records were folded but never written)."""
        self.state.reset()
        await self._table.rewind()
        folded = await self.catch_up()
        log.info("worker %s: state rebuilt from %d records", self._worker, folded)
        return folded

    async def catch_up(self) -> int:
        """The read barrier: fold every record committed to the tables' topics up
        to their end offsets as of this call; returns how many were folded.

        Raises:
            BusError: the log could not be read; nothing was folded, and the next
                call starts where the previous one ended.
        """
        folded = 0
        for record in await self._table.catch_up():
            try:
                self.state.apply(self._codec.decode(record.value))
            except ContractError:
                continue  # dead-lettered where it was consumed; nothing to fold
            folded += 1
        return folded
