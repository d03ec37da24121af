"""Artifact commands and events: content-addressed, immutable bytes."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from covenant.events.base import Message
from covenant.events.refusals import Refusal
from covenant.topics import ARTIFACT_COMMANDS, ARTIFACT_EVENTS


class RecordArtifact(Message):
    """Ask to record bytes that an uploader wrote to the blob store."""

    NAMESPACE: ClassVar[str] = "covenant.cmd"
    TYPE: ClassVar[str] = "artifact.record"
    TOPIC = ARTIFACT_COMMANDS

    name: str
    media_type: str
    claimed_sha256: str = Field(description="hex digest the uploader says it wrote")
    size_bytes: int
    blob_uri: str
    git_commit: str | None = Field(default=None, description="commit of the run that made it")
    run_config: dict[str, str] = Field(default_factory=dict)


class ArtifactStored(Message):
    """Bytes were verified against their claim and are now an artifact."""

    NAMESPACE: ClassVar[str] = "covenant.evt"
    TYPE: ClassVar[str] = "artifact.stored"
    TOPIC = ARTIFACT_EVENTS

    artifact_id: str = Field(description="sha256:<hex>, the content address")
    name: str
    media_type: str
    size_bytes: int
    blob_uri: str
    git_commit: str | None = None
    run_config: dict[str, str] = Field(default_factory=dict)


class ArtifactRejected(Message):
    """Stored bytes did not match their claim; nothing is recorded as stored."""

    NAMESPACE: ClassVar[str] = "covenant.evt"
    TYPE: ClassVar[str] = "artifact.rejected"
    TOPIC = ARTIFACT_EVENTS

    name: str
    claimed_sha256: str
    reason: str = Field(description="the refusals' messages joined, for older readers")
    refusals: list[Refusal] = Field(default_factory=list)
