"""The event contract: every command and event as a typed, immutable record.

Messages per capability (``datasets``, ``artifacts``, ``registry``, ``audit``,
``deadletter``), the refusal codes every ``*.rejected`` event carries
(``refusals``), the closed list of types (``catalog``), the wire codec (Avro
single-object encoding, ``codec``), the generated ``.avsc`` contract files and the
compatibility rules they are checked by (``contract``, ``compat``).
"""

from __future__ import annotations

from covenant.events.artifacts import ArtifactRejected, ArtifactStored, RecordArtifact
from covenant.events.audit import CheckpointSigned, LeavesAppended
from covenant.events.base import Command, Event, Message, Metadata, Record
from covenant.events.catalog import MESSAGE_TYPES, message_type
from covenant.events.codec import Codec, parse_document
from covenant.events.contract import default_codec
from covenant.events.datasets import (
    ApproveDataset,
    DatasetCleared,
    DatasetLineage,
    DatasetRegistered,
    DatasetRejected,
    ProvenanceReview,
    RegisterDataset,
    TrainingClearance,
    Transformation,
)
from covenant.events.deadletter import DeadLettered
from covenant.events.refusals import Refusal, RefusalCode
from covenant.events.registry import (
    ModelLineage,
    ModelRegistered,
    ModelRegistryEntry,
    ModelRejected,
    ModelStatus,
    RegisterModel,
)

__all__ = [
    "MESSAGE_TYPES",
    "ApproveDataset",
    "ArtifactRejected",
    "ArtifactStored",
    "CheckpointSigned",
    "Codec",
    "Command",
    "DatasetCleared",
    "DatasetLineage",
    "DatasetRegistered",
    "DatasetRejected",
    "DeadLettered",
    "Event",
    "LeavesAppended",
    "Message",
    "Metadata",
    "ModelLineage",
    "ModelRegistered",
    "ModelRegistryEntry",
    "ModelRejected",
    "ModelStatus",
    "ProvenanceReview",
    "Record",
    "RecordArtifact",
    "Refusal",
    "RefusalCode",
    "RegisterDataset",
    "RegisterModel",
    "TrainingClearance",
    "Transformation",
    "default_codec",
    "message_type",
    "parse_document",
]
