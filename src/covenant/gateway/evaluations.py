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

from dataclasses import dataclass, field

from covenant.bus.protocol import Bus
from covenant.events.base import Message
from covenant.events.codec import Codec
from covenant.events.evaluation import (
    EvaluationCompleted,
    EvaluationFailed,
)
from covenant.gateway._views import TableView
from covenant.gateway.documents import EvaluationDoc, Outcome
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


class Evaluations(TableView[EvaluationsState]):
    """The caught-up view; ``start`` rebuilds it, each read is a read barrier."""

    def __init__(self, *, bus: Bus, codec: Codec) -> None:
        super().__init__(bus=bus, codec=codec, state=EvaluationsState())

    async def get(self, eval_id: str) -> Outcome | None:
        """The outcome of ``eval_id`` as of this call, or None (unknown or pending)."""
        await self.catch_up()
        return self._state.outcomes.get(eval_id)

    async def latest(self, model_id: str) -> EvaluationCompleted | None:
        """The latest ``eval.completed`` of ``model_id`` as of this call."""
        await self.catch_up()
        return self._state.latest.get(model_id)
