"""Artifact commands and events: content-addressed, immutable bytes."""

from __future__ import annotations

from pydantic import Field

from covenant.events.base import Command, Event
from covenant.events.refusals import Refusal
from covenant.topics import ARTIFACT_COMMANDS, ARTIFACT_EVENTS


class RecordArtifact(Command, type="artifact.record", topic=ARTIFACT_COMMANDS):
    """Ask to record bytes that an uploader wrote to the blob store."""

    name: str
    media_type: str
    claimed_sha256: str = Field(description="hex digest the uploader says it wrote")
    size_bytes: int
    blob_uri: str
    git_commit: str | None = Field(default=None, description="commit of the run that made it")
    run_config: dict[str, str] = Field(default_factory=dict)


class ArtifactStored(Event, type="artifact.stored", topic=ARTIFACT_EVENTS):
    """Bytes were verified against their claim and are now an artifact."""

    artifact_id: str = Field(description="sha256:<hex>, the content address")
    name: str
    media_type: str
    size_bytes: int
    blob_uri: str
    git_commit: str | None = None
    run_config: dict[str, str] = Field(default_factory=dict)


class ArtifactRejected(Event, type="artifact.rejected", topic=ARTIFACT_EVENTS):
    """Stored bytes did not match their claim; nothing is recorded as stored."""

    name: str
    claimed_sha256: str
    reason: str = Field(description="the refusals' messages joined, for older readers")
    refusals: list[Refusal] = Field(default_factory=list)
