"""The dead-letter record: what could not be handled, where it was, and why."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from covenant.events.base import Message
from covenant.topics import DEADLETTER


class DeadLettered(Message):
    """A record a worker gave up on, kept byte for byte so nothing is lost."""

    NAMESPACE: ClassVar[str] = "covenant.evt"
    TYPE: ClassVar[str] = "record.dead_lettered"
    TOPIC = DEADLETTER

    worker: str
    source_topic: str
    source_partition: int
    source_offset: int
    error_class: str
    error: str = Field(description="what went wrong, for a person")
    attempts: int
    original: bytes = Field(description="the record's value exactly as read")
    original_key: bytes | None = None
