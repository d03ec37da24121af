"""The dead-letter record: what could not be handled, where it was, and why."""

from __future__ import annotations

from pydantic import Field

from covenant.events.base import Event
from covenant.topics import DEADLETTER


class DeadLettered(Event, type="record.dead_lettered", topic=DEADLETTER):
    """A record a worker gave up on, kept byte for byte so nothing is lost."""

    worker: str
    source_topic: str
    source_partition: int
    source_offset: int
    error_class: str
    error: str = Field(description="what went wrong, for a person")
    attempts: int
    original: bytes = Field(description="the record's value exactly as read")
    original_key: bytes | None = None
