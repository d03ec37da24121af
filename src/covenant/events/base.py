"""The shape every record on the log shares: one metadata record, then the body.

Python names are snake_case; the Avro contract uses the camelCase aliases, so other
languages see ``eventId`` and ``occurredAt`` as ARCHITECTURE.md §3 names them.

The time and the id a new record gets come from a ``Clock`` and an ``IdSource``
(``covenant.events._clock``) passed to ``Message.create``; the system ones are the
defaults, so production code passes nothing and tests pass deterministic ones.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from covenant.events._clock import (
    SYSTEM_CLOCK,
    UUID7_IDS,
    Clock,
    IdSource,
    SystemClock,
    Uuid7Ids,
)
from covenant.topics import Topic

__all__ = [
    "SYSTEM_CLOCK",
    "UUID7_IDS",
    "Clock",
    "IdSource",
    "Message",
    "Metadata",
    "Record",
    "SystemClock",
    "Uuid7Ids",
    "new_event_id",
    "utc_now",
]


def new_event_id() -> str:
    """A UUIDv7: time-ordered, so ids sort roughly by creation and index well."""
    return UUID7_IDS.new_id()


def utc_now() -> datetime:
    """Now in UTC at microsecond precision, the resolution of ``timestamp-micros``."""
    return SYSTEM_CLOCK.now()


class Record(BaseModel):
    """A nested Avro record: immutable, strict about unknown fields."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        use_enum_values=False,
    )
    NAMESPACE: ClassVar[str] = "covenant.common"


class Metadata(Record):
    """Who, what, when and why of one command or event (ARCHITECTURE.md §3)."""

    event_id: str = Field(description="UUIDv7 of this record")
    type: str = Field(description="dotted type name, e.g. model.registered")
    occurred_at: datetime = Field(description="when the producer made it, UTC")
    producer: str = Field(description="the service or worker that wrote it")
    actor: str = Field(description="the principal on whose behalf it was written")
    subject: str = Field(description="the entity it is about; also the partition key")
    correlation_id: str = Field(description="shared by every record of one flow")
    causation_id: str | None = Field(
        default=None, description="eventId of the record that caused this one"
    )
    idempotency_key: str | None = Field(
        default=None, description="caller's key; a repeat with the same key is a no-op"
    )


class Message(Record):
    """A top-level record on a topic: a command (intent) or an event (fact).

    Subclass ``Command`` or ``Event`` and name the type and topic in the class
    line, ``class ModelRegistered(Event, type="model.registered",
    topic=MODEL_EVENTS)``: ``TYPE`` is the dotted name in ``meta.type``,
    ``NAMESPACE`` the Avro namespace (``covenant.cmd`` or ``covenant.evt``), and
    ``TOPIC`` where it is written.
    """

    TYPE: ClassVar[str]
    TOPIC: ClassVar[Topic]

    meta: Metadata

    def __init_subclass__(
        cls, *, type: str | None = None, topic: Topic | None = None, **kwargs: Any
    ) -> None:
        super().__init_subclass__(**kwargs)
        if type is not None:
            cls.TYPE = type
        if topic is not None:
            cls.TOPIC = topic

    @classmethod
    def create(
        cls,
        *,
        subject: str,
        actor: str,
        producer: str,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        idempotency_key: str | None = None,
        clock: Clock = SYSTEM_CLOCK,
        ids: IdSource = UUID7_IDS,
        **body: Any,
    ) -> Any:
        """Build a record with fresh metadata; the first record of a flow starts
        its correlation id from its own event id.

        Args:
            subject: the entity it is about; also the partition key.
            actor: the principal on whose behalf it is written.
            producer: the service or worker writing it.
            correlation_id: the flow it belongs to; None starts a new flow.
            causation_id: the event id of the record that caused it.
            idempotency_key: the caller's key, carried so that retries are no-ops.
            clock: where ``meta.occurred_at`` comes from. A parameter rather than a
                global so that tests (and replays) choose the time explicitly.
            ids: where ``meta.event_id`` comes from, for the same reason.
            **body: the message's own fields. No message type may have a field named
                like one of the arguments above (a test in ``tests/unit`` checks).
        """
        event_id = ids.new_id()
        meta = Metadata(
            event_id=event_id,
            type=cls.TYPE,
            occurred_at=clock.now(),
            producer=producer,
            actor=actor,
            subject=subject,
            correlation_id=correlation_id or event_id,
            causation_id=causation_id,
            idempotency_key=idempotency_key,
        )
        return cls(meta=meta, **body)


class Command(Message):
    """An intent: a request a worker decides on (``covenant.cmd.*`` topics)."""

    NAMESPACE: ClassVar[str] = "covenant.cmd"


class Event(Message):
    """A fact: what a worker decided, never updated or deleted (``covenant.evt.*``)."""

    NAMESPACE: ClassVar[str] = "covenant.evt"
