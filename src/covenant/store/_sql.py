"""The ``ReadStore`` operations, written once over a backend's transactions.

A backend (``sqlite``, ``postgres``) supplies only connections, the two kinds of
transaction and its error translation; everything a caller can observe lives here,
so the two backends cannot differ in meaning.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import ClassVar, Self

from covenant.bus.protocol import TopicPartition
from covenant.errors import StoreError
from covenant.events.base import Message
from covenant.store import _queries
from covenant.store._facts import project
from covenant.store._schema import TABLES, Dialect, Tx, create_schema, drop_schema
from covenant.store.views import ArtifactView, DatasetView, Downstream, ModelView, Upstream

_SCHEMA_LOCK = "schema"
_SAVE_OFFSET = (
    "INSERT INTO projection_offsets (projection, topic, partition, next_offset, applied)"
    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (projection, topic, partition)"
    " DO UPDATE SET next_offset = excluded.next_offset,"
    " applied = projection_offsets.applied + excluded.applied"
)


async def _stored_offsets(tx: Tx, projection: str) -> dict[TopicPartition, int]:
    rows = await tx.fetch(
        "SELECT topic, partition, next_offset FROM projection_offsets WHERE projection = ?",
        projection,
    )
    return {(str(t), int(p)): int(n) for t, p, n in rows}


def _ordering(row: dict[str, object], key: Sequence[str]) -> tuple[tuple[int, str], ...]:
    """Sort key for a row by its primary key: numbers as numbers, text as text."""
    return tuple((value, "") if isinstance(value := row[k], int) else (0, str(value)) for k in key)


class SqlReadStore(ABC):
    """A ``ReadStore`` over SQL; subclasses provide the transactions."""

    dialect: ClassVar[Dialect]

    @property
    @abstractmethod
    def _connected(self) -> bool:
        """Whether the backend's connections are open."""

    @abstractmethod
    async def _connect(self) -> None:
        """Open the backend's connections, raising ``StoreError`` when it cannot."""

    @abstractmethod
    async def __aexit__(self, *exc: object) -> None:
        """Close the connections; closing twice is harmless."""

    @abstractmethod
    def _writing(self, lock: str) -> AbstractAsyncContextManager[Tx]:
        """A write transaction, serialized with every other writer holding ``lock``
        (in any process): committed on exit, rolled back on error, with the
        backend's errors raised as ``StoreError``."""

    @abstractmethod
    def _reading(self) -> AbstractAsyncContextManager[Tx]:
        """A read-only transaction on one consistent snapshot."""

    async def __aenter__(self) -> Self:
        """Connect and create the schema if missing; a store already open is left as it
        is. When the schema cannot be created the connections are closed again."""
        if not self._connected:
            await self._connect()
            try:
                await self._create_schema()
            except BaseException:
                await self.__aexit__()
                raise
        return self

    async def _create_schema(self) -> None:
        async with self._writing(_SCHEMA_LOCK) as tx:
            for statement in create_schema(self.dialect):
                await tx.execute(statement)

    async def reset(self) -> None:
        async with self._writing(_SCHEMA_LOCK) as tx:
            for statement in drop_schema() + create_schema(self.dialect):
                await tx.execute(statement)

    async def apply(
        self, *, projection: str, events: Sequence[tuple[TopicPartition, int, Message]]
    ) -> int:
        if not events:
            return 0
        async with self._writing(projection) as tx:
            stored = await _stored_offsets(tx, projection)
            following = dict(stored)
            applied: Counter[TopicPartition] = Counter()
            for tp, offset, message in events:
                if offset < following.get(tp, 0):
                    continue  # applied before: a redelivery after a crash
                try:
                    if await project(tx, message):
                        applied[tp] += 1
                except ValueError as exc:  # e.g. a NaN metric, which JSON cannot hold
                    raise StoreError(
                        f"{message.meta.type} {message.meta.event_id} at {tp[0]}/{tp[1]}"
                        f"@{offset} cannot be projected: {exc}",
                        retriable=False,
                    ) from exc
                following[tp] = offset + 1
            await tx.executemany(
                _SAVE_OFFSET,
                [
                    (projection, topic, partition, n, applied[(topic, partition)])
                    for (topic, partition), n in sorted(following.items())
                    if stored.get((topic, partition)) != n
                ],
            )
        return applied.total()

    async def skip(
        self,
        *,
        projection: str,
        topic_partition: TopicPartition,
        offset: int,
        reason: str,
        event_id: str | None = None,
    ) -> bool:
        topic, partition = topic_partition
        async with self._writing(projection) as tx:
            if offset < (await _stored_offsets(tx, projection)).get(topic_partition, 0):
                return False
            await tx.execute(
                "INSERT INTO projection_skips"
                " (projection, topic, partition, record_offset, event_id, reason)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                projection,
                topic,
                partition,
                offset,
                event_id,
                reason,
            )
            await tx.execute(_SAVE_OFFSET, projection, topic, partition, offset + 1, 0)
        return True

    async def offsets(self, *, projection: str) -> dict[TopicPartition, int]:
        async with self._reading() as tx:
            return await _stored_offsets(tx, projection)

    async def get_model(self, *, model_id: str) -> ModelView | None:
        async with self._reading() as tx:
            found = await _queries.models(tx, ids=[model_id])
        return found[0] if found else None

    async def list_models(self, *, family: str | None = None) -> list[ModelView]:
        async with self._reading() as tx:
            return await _queries.models(tx, family=family)

    async def get_dataset(self, *, dataset_id: str) -> DatasetView | None:
        async with self._reading() as tx:
            found = await _queries.datasets(tx, [dataset_id])
        return found[0] if found else None

    async def get_artifact(self, *, artifact_id: str) -> ArtifactView | None:
        async with self._reading() as tx:
            found = await _queries.artifacts(tx, [artifact_id])
        return found[0] if found else None

    async def upstream(self, *, model_id: str) -> Upstream | None:
        async with self._reading() as tx:
            return await _queries.upstream(tx, model_id)

    async def downstream(self, *, dataset_id: str) -> Downstream:
        async with self._reading() as tx:
            return await _queries.downstream(tx, dataset_id)

    async def dump(self) -> dict[str, list[dict[str, object]]]:
        out: dict[str, list[dict[str, object]]] = {}
        async with self._reading() as tx:
            for table in TABLES:
                columns = ", ".join(c.name for c in table.columns)
                rows = [
                    table.normalize(row)
                    for row in await tx.fetch(f"SELECT {columns} FROM {table.name}")
                ]
                out[table.name] = sorted(rows, key=lambda r: _ordering(r, table.key))
        return out
