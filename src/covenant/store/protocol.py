"""The read-store port: what every read-model store promises.

Read models are projections of the log (ARCHITECTURE.md §1): they can be dropped and
rebuilt from the log at any time, so the log stays the only source of truth. Two
implementations live beside this file: ``sqlite`` (embedded, the default) and
``postgres`` (production). Both pass ``tests/conformance/test_store.py``.

Exactly-once across two systems: the store, not the log's consumer groups, keeps the
projection's offsets, and writes them in the same transaction as the rows they
produced. A crash at any instant leaves either a whole batch with its offsets or
neither, and a redelivered batch is recognised by its offsets and skipped.

Errors::

    CovenantError
    └── StoreError     the store failed; ``retriable`` is False when the data itself
                       breaks a constraint (retrying can only fail the same way)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, Self

from covenant.bus.protocol import TopicPartition
from covenant.events.base import Message
from covenant.store.views import ArtifactView, DatasetView, Downstream, ModelView, Upstream


class ReadStore(Protocol):
    """Queryable projections of dataset, artifact and model facts, with their offsets.

    Facts are projected idempotently and independently of the order in which
    partitions interleave: for one dataset, artifact or model id the registration
    with the smallest event id (UUIDv7, so the earliest) wins, since registrations
    are immutable facts. So replaying the log into an empty store (``rebuild``)
    gives the same rows as following it live, whatever the batching was.
    """

    async def __aenter__(self) -> Self:
        """Connect and create the schema if missing (idempotent, safe to race)."""
        ...

    async def __aexit__(self, *exc: object) -> None:
        """Close; closing twice is harmless."""
        ...

    async def apply(
        self, *, projection: str, events: Sequence[tuple[TopicPartition, int, Message]]
    ) -> int:
        """Project ``events`` and store, per partition, the next offset for
        ``projection``, all in one transaction.

        An event whose offset is below the stored next offset of its partition is
        skipped, so a batch redelivered after a crash is never applied twice. Message
        types the store does not project advance the offsets and are otherwise
        ignored. Beside each offset the store counts the events applied from that
        partition, in the same transaction: every write is idempotent as well, so
        that counter is what would show a double application (``dump`` has it).

        Returns:
            How many events were new and of a projected type.

        Raises:
            StoreError: nothing of the batch was stored, offsets included;
                ``retriable`` is False when an event breaks a constraint.
        """
        ...

    async def skip(
        self,
        *,
        projection: str,
        topic_partition: TopicPartition,
        offset: int,
        reason: str,
        event_id: str | None = None,
    ) -> bool:
        """Record that the record at ``offset`` cannot be projected, and move the
        offset past it, in one transaction, so it is neither retried forever nor
        dropped silently.

        Returns:
            False when the offset was already past it (nothing recorded).
        """
        ...

    async def offsets(self, *, projection: str) -> dict[TopicPartition, int]:
        """The next offset to project per partition (missing = from 0)."""
        ...

    async def get_model(self, *, model_id: str) -> ModelView | None:
        """One model version with its status history, or None when not projected."""
        ...

    async def list_models(self, *, family: str | None = None) -> list[ModelView]:
        """Every model (of ``family``), by family, then creation time, then id."""
        ...

    async def get_dataset(self, *, dataset_id: str) -> DatasetView | None:
        """One dataset with its lineage, or None when not projected."""
        ...

    async def get_artifact(self, *, artifact_id: str) -> ArtifactView | None:
        """One stored artifact, or None when not projected."""
        ...

    async def upstream(self, *, model_id: str) -> Upstream | None:
        """Everything the model was made from, transitively; None when the model is
        not projected."""
        ...

    async def downstream(self, *, dataset_id: str) -> Downstream:
        """Every model trained on the dataset, and their descendants."""
        ...

    async def dump(self) -> dict[str, list[dict[str, object]]]:
        """Every table's rows, ordered by primary key, with backend-neutral values
        (JSON columns parsed, timestamps as fixed-width UTC text), so two stores
        that projected the same facts dump equal — across backends too."""
        ...

    async def reset(self) -> None:
        """Drop and recreate the schema, offsets included, before a rebuild."""
        ...
