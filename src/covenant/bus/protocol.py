"""The log port: what every log implementation promises.

Two implementations live beside this file: ``sqlite`` (embedded, the default) and
``kafka`` (production). Both pass ``tests/conformance/test_bus.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, Self

from covenant.topics import Topic

TopicPartition = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Record:
    """One record as read from the log, with its position."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One record to write. ``key`` is the subject: it picks the partition, so one
    entity's records keep their order."""

    topic: Topic
    key: bytes
    value: bytes


@dataclass(frozen=True, slots=True)
class Position:
    """Where a published record landed."""

    topic: str
    partition: int
    offset: int


class GroupConsumer(Protocol):
    """A member of a consumer group whose outputs and offsets commit together.

    Exactly one member of a group owns a given partition at a time; a member that
    lost ownership gets ``FencedError`` from ``commit`` and must stop.
    """

    async def __aenter__(self) -> Self:
        """Join the group (waiting while another live member owns it) and load the
        committed positions."""
        ...

    async def __aexit__(self, *exc: object) -> None:
        """Leave the group; uncommitted work is abandoned, never half-applied."""
        ...

    async def poll(self, *, max_records: int, timeout_s: float) -> list[Record]:
        """Records after the current position, in offset order per partition; only
        committed records are ever returned (read-committed). Empty on timeout."""
        ...

    async def commit(
        self, *, outputs: Sequence[Outgoing], offsets: Mapping[TopicPartition, int]
    ) -> None:
        """Atomically write ``outputs`` and store ``offsets`` (the next offset to read
        per partition): after a crash at any instant either all of it happened or
        none of it did. On Kafka the broker writes the commit markers just after
        this returns, so read-committed readers see the outputs a moment later.

        Raises:
            FencedError: another member owns the group now.
            BusError: the commit failed and was rolled back; call ``rewind``.
        """
        ...

    async def rewind(self) -> None:
        """Move positions back to the last committed offsets, after a failed commit."""
        ...

    async def positions(self) -> dict[TopicPartition, int]:
        """Next offset to read per assigned partition. It can be past the last record
        handed out (Kafka skips transaction markers), so the runtime commits it when
        idle and a drained group's committed offsets reach the end offsets."""
        ...


class TableReader(Protocol):
    """Every partition of some topics, read outside any group and kept open: what a
    stateful worker folds its global tables from (``covenant.runtime.tables``).

    ``catch_up`` is a read barrier: it returns every committed record after the
    previous call, up to the topics' end offsets as of this call, so a caller that
    catches up before deciding never decides on facts older than those committed
    before it asked.
    """

    async def __aenter__(self) -> Self:
        """Open, positioned at offset 0 of every partition."""
        ...

    async def __aexit__(self, *exc: object) -> None:
        """Close; closing twice is harmless."""
        ...

    async def catch_up(self) -> list[Record]:
        """The committed records since the last call, at least up to the end
        offsets as of now (later ones may come too), in offset order per partition.

        Raises:
            BusError: the log could not be read; nothing of this call was returned,
                and the next call resumes where the previous one ended.
        """
        ...

    async def rewind(self) -> None:
        """Go back to offset 0 of every partition (to rebuild a state)."""
        ...


class Bus(Protocol):
    """An append-only, partitioned, replayable log."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc: object) -> None:
        """Close; closing twice is harmless."""
        ...

    async def ensure_topics(self, topics: Sequence[Topic]) -> None:
        """Create missing topics; existing ones are left as they are (idempotent)."""
        ...

    async def publish(self, records: Sequence[Outgoing]) -> list[Position]:
        """Append records; returns only once every one is durable."""
        ...

    def consumer(
        self, *, group: str, topics: Sequence[Topic], instance: str = "0"
    ) -> GroupConsumer:
        """A group member reading ``topics`` from the group's committed offsets
        (from the beginning for a new group)."""
        ...

    def read(
        self,
        topics: Sequence[Topic],
        *,
        follow: bool = False,
        from_end: bool = False,
        start: Mapping[TopicPartition, int] | None = None,
    ) -> AsyncIterator[Record]:
        """Every committed record of ``topics`` from offset 0, outside any group: up
        to the end as of the call, or on and on with ``follow``.

        ``from_end`` skips what is there when reading starts (which, for a lazy
        iterator, is the first ``__anext__``); ``start`` gives exact positions taken
        earlier (e.g. ``end_offsets`` before publishing), so nothing written after
        them can be missed. Partitions absent from ``start`` begin at 0."""
        ...

    def table(self, topics: Sequence[Topic]) -> TableReader:
        """A reader of every partition of ``topics``, for global tables."""
        ...

    async def end_offsets(self, topic: Topic) -> dict[int, int]:
        """Next offset per partition (committed records only)."""
        ...

    async def committed(self, *, group: str, topic: Topic) -> dict[int, int]:
        """The group's committed next offset per partition (missing = none)."""
        ...

    async def groups(self) -> list[str]:
        """Consumer groups known to the log."""
        ...
