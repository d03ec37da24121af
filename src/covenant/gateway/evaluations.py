"""The gateway's view of evaluations, folded from ``covenant.evt.eval`` as a global
table like the job view (``covenant.gateway.jobs``, whose reasons apply here too):
``GET /eval/{id}`` and the ``evaluation`` of ``GET /models/{id}`` are caught up
before each read, so a read after a decided ``POST /eval/run`` always sees it.

The view keeps every evaluation's outcome and, per model, the latest
``eval.completed`` (by log order within the model's partition, which is the order
the worker decided them in). In memory, rebuilt at start; past that size it is a
read-store projection, and the routes would not change.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from covenant.bus.protocol import Bus
from covenant.events.base import Message
from covenant.events.codec import Codec
from covenant.events.evaluation import (
    EvaluationCompleted,
    EvaluationFailed,
)
from covenant.gateway.documents import EvaluationDoc, Outcome
from covenant.runtime.tables import GlobalTables
from covenant.topics import EVAL_EVENTS, Topic

__all__ = ["EvaluationDoc", "Evaluations", "EvaluationsState"]


@dataclass
class EvaluationsState:
    """Outcomes by eval id, the latest completed one by model id."""

    topics: tuple[Topic, ...] = (EVAL_EVENTS,)
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    latest: dict[str, EvaluationCompleted] = field(default_factory=dict)

    def reset(self) -> None:
        self.outcomes.clear()
        self.latest.clear()

    def apply(self, message: Message) -> None:
        if isinstance(message, EvaluationCompleted | EvaluationFailed):
            self.outcomes.setdefault(message.eval_id, message)
        if isinstance(message, EvaluationCompleted):
            self.latest[message.model_id] = message


class Evaluations:
    """The caught-up view; ``start`` rebuilds it, each read is a read barrier."""

    def __init__(self, *, bus: Bus, codec: Codec) -> None:
        self._bus = bus
        self._codec = codec
        self._state = EvaluationsState()
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

    async def _catch_up(self) -> None:
        async with self._lock:
            if self._tables is not None:
                await self._tables.catch_up()

    async def get(self, eval_id: str) -> Outcome | None:
        """The outcome of ``eval_id`` as of this call, or None (unknown or pending)."""
        await self._catch_up()
        return self._state.outcomes.get(eval_id)

    async def latest(self, model_id: str) -> EvaluationCompleted | None:
        """The latest ``eval.completed`` of ``model_id`` as of this call."""
        await self._catch_up()
        return self._state.latest.get(model_id)
