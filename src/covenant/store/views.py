"""What the read store answers with: frozen, typed snapshots of projected facts.

They are plain frozen dataclasses, not pydantic records: they never go on the wire
and are never validated from outside, they only carry what a query found. Sequences
are tuples so a view can be compared and cannot be changed by the caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from covenant.events.datasets import TrainingClearance
from covenant.events.registry import ModelStatus


class EdgeKind(StrEnum):
    """What a lineage edge points from; the edge always points *to* a model."""

    DATASET = "dataset"
    MODEL = "model"
    ARTIFACT = "artifact"
    CODE = "code"


@dataclass(frozen=True, slots=True)
class LineageEdge:
    """``source`` (a dataset id, parent model id, artifact id or code ref) went into
    ``model_id``. Edges are kept even when the source was never projected, so a
    dangling reference shows up instead of vanishing."""

    model_id: str
    kind: EdgeKind
    source: str


@dataclass(frozen=True, slots=True)
class TransformationView:
    """One step that derived a dataset, in the order the lineage lists them."""

    name: str
    code_ref: str
    checksum: str


@dataclass(frozen=True, slots=True)
class DatasetApproval:
    """Someone cleared a blocked dataset for training, and why."""

    approved_by: str
    reason: str
    cleared_at: datetime
    event_id: str


@dataclass(frozen=True, slots=True)
class DatasetView:
    """A registered dataset: its lineage and whether it may train.

    ``clearance`` is the current one: ``allowed`` once any approval is projected.
    ``block_reasons`` stay as registered (why it was blocked); ``approvals`` say who
    cleared it, oldest first.
    """

    dataset_id: str
    checksum: str
    license: str
    source_refs: tuple[str, ...]
    transformations: tuple[TransformationView, ...]
    pii_flags: tuple[str, ...]
    clearance: TrainingClearance
    block_reasons: tuple[str, ...]
    approvals: tuple[DatasetApproval, ...]
    created_at: datetime
    created_by: str
    registered_at: datetime
    event_id: str


@dataclass(frozen=True, slots=True)
class ArtifactView:
    """Stored, verified bytes and what made them."""

    artifact_id: str
    name: str
    media_type: str
    size_bytes: int
    blob_uri: str
    git_commit: str | None
    run_config: Mapping[str, str]
    stored_at: datetime
    event_id: str


@dataclass(frozen=True, slots=True)
class StatusChange:
    """One step of a model's lifecycle, oldest first in ``ModelView.history``."""

    status: ModelStatus
    changed_at: datetime
    actor: str
    event_id: str


@dataclass(frozen=True, slots=True)
class ModelView:
    """A registered model version: the spec's ModelRegistryEntry plus its history."""

    model_id: str
    family: str
    version: str
    code_ref: str
    artifact_id: str
    metrics: Mapping[str, float]
    created_at: datetime
    created_by: str
    status: ModelStatus
    signer_id: str | None
    signature: bytes | None
    dataset_refs: tuple[str, ...]
    parent_models: tuple[str, ...]
    provenance: Mapping[str, str]
    history: tuple[StatusChange, ...]
    event_id: str


@dataclass(frozen=True, slots=True)
class Upstream:
    """Everything a model was made from, transitively.

    Attributes:
        model_id: the model asked about.
        models: its ancestors (parents, their parents, ...), not itself.
        datasets: datasets any of them trained on, with transformations and sources.
        artifacts: stored artifacts of the model and its ancestors, and the stored
            bytes of those datasets.
        code_refs: code of the model, its ancestors and the datasets' transformations.
        edges: every lineage edge walked, including those to unprojected sources.
    """

    model_id: str
    models: tuple[ModelView, ...]
    datasets: tuple[DatasetView, ...]
    artifacts: tuple[ArtifactView, ...]
    code_refs: tuple[str, ...]
    edges: tuple[LineageEdge, ...]


@dataclass(frozen=True, slots=True)
class Downstream:
    """Everything built on a dataset, transitively.

    Attributes:
        dataset_id: the dataset asked about.
        models: models trained on it, and their child models, recursively.
        edges: the lineage edges that connect them.
    """

    dataset_id: str
    models: tuple[ModelView, ...]
    edges: tuple[LineageEdge, ...]
