"""Model registry commands and events, carrying the spec's ``ModelRegistryEntry``."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from covenant.events.base import Command, Event, Record
from covenant.events.refusals import Refusal
from covenant.topics import MODEL_COMMANDS, MODEL_EVENTS


class ModelStatus(StrEnum):
    """Lifecycle stage; changes are events, never updates in place."""

    DRAFT = "draft"
    STAGING = "staging"
    PROD = "prod"
    DEPRECATED = "deprecated"


class ModelLineage(Record):
    """What a model was made from."""

    dataset_refs: list[str] = Field(default_factory=list)
    parent_models: list[str] = Field(default_factory=list)


class ModelRegistryEntry(Record):
    """The spec's ModelRegistryEntry."""

    model_id: str = Field(description="family:version")
    family: str
    version: str = Field(description="SemVer 2.0.0")
    code_ref: str
    artifact_id: str
    metrics: dict[str, float] = Field(default_factory=dict)
    created_at: datetime
    created_by: str
    status: ModelStatus
    signer_id: str | None = None
    signature: bytes | None = None
    lineage: ModelLineage
    provenance: dict[str, str] = Field(default_factory=dict)


class RegisterModel(Command, type="model.register", topic=MODEL_COMMANDS):
    """Ask to register a model version."""

    family: str
    version: str
    code_ref: str
    artifact_id: str
    metrics: dict[str, float] = Field(default_factory=dict)
    lineage: ModelLineage = Field(default_factory=ModelLineage)
    provenance: dict[str, str] = Field(default_factory=dict)
    signer_id: str | None = None
    signature: bytes | None = None


class ModelRegistered(Event, type="model.registered", topic=MODEL_EVENTS):
    """A model version exists, immutable from now on."""

    entry: ModelRegistryEntry


class ModelRejected(Event, type="model.rejected", topic=MODEL_EVENTS):
    """A registration was refused; nothing was registered."""

    family: str
    version: str
    reasons: list[str] = Field(description="the refusals' messages, for older readers")
    refusals: list[Refusal] = Field(default_factory=list)
