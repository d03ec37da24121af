"""What the evaluation worker knows: the registry's models, the datasets, and which
evaluations already have an outcome.

Folded from the model, dataset and evaluation event topics as global tables, so any
instance sees every model and dataset whichever partitions it was given, and a
redelivered ``eval.run`` whose outcome is on the log is recognised and skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from covenant.events.base import Message
from covenant.events.datasets import DatasetRegistered
from covenant.events.evaluation import EvaluationCompleted, EvaluationFailed
from covenant.events.registry import ModelRegistered
from covenant.topics import DATASET_EVENTS, EVAL_EVENTS, MODEL_EVENTS, Topic


@dataclass(frozen=True)
class ModelFacts:
    """What evaluating one model version needs."""

    family: str
    artifact_id: str


@dataclass
class EvaluationState:
    """Models, dataset checksums and decided evaluations; ``apply`` is idempotent."""

    topics: tuple[Topic, ...] = (MODEL_EVENTS, DATASET_EVENTS, EVAL_EVENTS)
    models: dict[str, ModelFacts] = field(default_factory=dict)
    datasets: dict[str, str] = field(default_factory=dict)
    decided: set[str] = field(default_factory=set)

    def reset(self) -> None:
        self.models.clear()
        self.datasets.clear()
        self.decided.clear()

    def apply(self, message: Message) -> None:
        if isinstance(message, ModelRegistered):
            entry = message.entry
            self.models.setdefault(entry.model_id, ModelFacts(entry.family, entry.artifact_id))
        elif isinstance(message, DatasetRegistered):
            self.datasets.setdefault(message.lineage.dataset_id, message.lineage.checksum)
        elif isinstance(message, EvaluationCompleted | EvaluationFailed):
            self.decided.add(message.eval_id)
