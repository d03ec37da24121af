"""Dataset commands and events, carrying the spec's ``DatasetLineage``."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from covenant.events.base import Command, Event, Record
from covenant.events.refusals import Refusal
from covenant.topics import DATASET_COMMANDS, DATASET_EVENTS


class ProvenanceReview(StrEnum):
    """Outcome of the data-provenance review; only ``passed`` data may train."""

    PENDING = "pending"
    PASSED = "passed"
    FAILED = "failed"


class TrainingClearance(StrEnum):
    """Whether a dataset may be used for training now."""

    ALLOWED = "allowed"
    BLOCKED = "blocked"


class Transformation(Record):
    """One step that derived the dataset from its sources."""

    name: str
    code_ref: str = Field(description="git URL and commit of the code that ran")
    checksum: str = Field(description="sha256:<hex> of the step's output")


class DatasetLineage(Record):
    """The spec's DatasetLineage: where the data came from and what was done to it."""

    dataset_id: str
    source_refs: list[str] = Field(default_factory=list)
    transformations: list[Transformation] = Field(default_factory=list)
    checksum: str = Field(description="sha256:<hex>, computed by Covenant from the bytes")
    license: str
    pii_flags: list[str] = Field(default_factory=list)
    created_at: datetime
    created_by: str


class RegisterDataset(Command, type="dataset.register", topic=DATASET_COMMANDS):
    """Ask to register a dataset whose bytes are already a stored artifact."""

    dataset_id: str
    artifact_id: str = Field(description="stored bytes of the dataset; the checksum source")
    source_refs: list[str] = Field(default_factory=list)
    transformations: list[Transformation] = Field(default_factory=list)
    license: str
    pii_flags: list[str] = Field(default_factory=list)
    provenance_review: ProvenanceReview = ProvenanceReview.PENDING


class DatasetRegistered(Event, type="dataset.registered", topic=DATASET_EVENTS):
    """A dataset is registered; blocked for training until cleared when flagged."""

    lineage: DatasetLineage
    clearance: TrainingClearance
    block_reasons: list[str] = Field(default_factory=list)
    provenance_review: ProvenanceReview | None = Field(
        default=None, description="as registered; None in records written before 0.2"
    )


class DatasetRejected(Event, type="dataset.rejected", topic=DATASET_EVENTS):
    """A dataset registration was refused; nothing was registered."""

    dataset_id: str
    reasons: list[str] = Field(description="the refusals' messages, for older readers")
    refusals: list[Refusal] = Field(default_factory=list)


class ApproveDataset(Command, type="dataset.approve", topic=DATASET_COMMANDS):
    """Clear a blocked dataset for training (PII approved, provenance reviewed)."""

    dataset_id: str
    reason: str = Field(description="why it may train now; kept in the audit trail")


class DatasetCleared(Event, type="dataset.cleared", topic=DATASET_EVENTS):
    """A blocked dataset may train from now on."""

    dataset_id: str
    approved_by: str
    reason: str
