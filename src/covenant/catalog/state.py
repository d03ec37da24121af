"""What the deciding workers know about datasets, artifacts and models.

Folded from the event topics (see ``WorkerState``): the registry needs it to keep
versions unique and lineage pointing at things that exist; the dataset worker to
keep dataset ids unique and checksums tied to stored bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from covenant.events.artifacts import ArtifactStored
from covenant.events.base import Message
from covenant.events.datasets import DatasetCleared, DatasetRegistered, TrainingClearance
from covenant.events.registry import ModelRegistered
from covenant.topics import ARTIFACT_EVENTS, DATASET_EVENTS, MODEL_EVENTS, Topic


@dataclass
class DatasetFacts:
    """One registered dataset as the workers need it."""

    clearance: TrainingClearance
    idempotency_key: str | None


@dataclass
class CatalogState:
    """Registered datasets, stored artifacts and registered models."""

    topics: tuple[Topic, ...] = (DATASET_EVENTS, ARTIFACT_EVENTS, MODEL_EVENTS)
    datasets: dict[str, DatasetFacts] = field(default_factory=dict)
    artifacts: set[str] = field(default_factory=set)
    models: dict[str, str | None] = field(default_factory=dict)

    def reset(self) -> None:
        self.datasets.clear()
        self.artifacts.clear()
        self.models.clear()

    def apply(self, message: Message) -> None:
        if isinstance(message, DatasetRegistered):
            self.datasets.setdefault(
                message.lineage.dataset_id,
                DatasetFacts(message.clearance, message.meta.idempotency_key),
            )
        elif isinstance(message, DatasetCleared):
            facts = self.datasets.get(message.dataset_id)
            if facts is not None:
                facts.clearance = TrainingClearance.ALLOWED
        elif isinstance(message, ArtifactStored):
            self.artifacts.add(message.artifact_id)
        elif isinstance(message, ModelRegistered):
            self.models.setdefault(message.entry.model_id, message.meta.idempotency_key)
