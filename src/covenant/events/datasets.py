"""Dataset commands and events, carrying the spec's ``DatasetLineage``."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from covenant.events.base import Message, Record
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


class RegisterDataset(Message):
    """Ask to register a dataset whose bytes are already a stored artifact."""

    NAMESPACE: ClassVar[str] = "covenant.cmd"
    TYPE: ClassVar[str] = "dataset.register"
    TOPIC = DATASET_COMMANDS

    dataset_id: str
    artifact_id: str = Field(description="stored bytes of the dataset; the checksum source")
    source_refs: list[str] = Field(default_factory=list)
    transformations: list[Transformation] = Field(default_factory=list)
    license: str
    pii_flags: list[str] = Field(default_factory=list)
    provenance_review: ProvenanceReview = ProvenanceReview.PENDING


class DatasetRegistered(Message):
    """A dataset is registered; blocked for training until cleared when flagged."""

    NAMESPACE: ClassVar[str] = "covenant.evt"
    TYPE: ClassVar[str] = "dataset.registered"
    TOPIC = DATASET_EVENTS

    lineage: DatasetLineage
    clearance: TrainingClearance
    block_reasons: list[str] = Field(default_factory=list)


class DatasetRejected(Message):
    """A dataset registration was refused; nothing was registered."""

    NAMESPACE: ClassVar[str] = "covenant.evt"
    TYPE: ClassVar[str] = "dataset.rejected"
    TOPIC = DATASET_EVENTS

    dataset_id: str
    reasons: list[str] = Field(description="the refusals' messages, for older readers")
    refusals: list[Refusal] = Field(default_factory=list)


class ApproveDataset(Message):
    """Clear a blocked dataset for training (PII approved, provenance reviewed)."""

    NAMESPACE: ClassVar[str] = "covenant.cmd"
    TYPE: ClassVar[str] = "dataset.approve"
    TOPIC = DATASET_COMMANDS

    dataset_id: str
    reason: str = Field(description="why it may train now; kept in the audit trail")


class DatasetCleared(Message):
    """A blocked dataset may train from now on."""

    NAMESPACE: ClassVar[str] = "covenant.evt"
    TYPE: ClassVar[str] = "dataset.cleared"
    TOPIC = DATASET_EVENTS

    dataset_id: str
    approved_by: str
    reason: str
