"""The read-model schema, declared once and rendered for each SQL dialect, and the
transaction surface that the shared SQL runs on.

Declaring columns with neutral kinds (rather than writing two DDL scripts) keeps the
SQLite and PostgreSQL schemas from drifting, and tells ``dump`` how to turn each
backend's values into the same plain Python values.

No foreign keys: a projection records facts as they arrive, and a model may name a
dataset whose registration sits on another partition not yet read.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal, Protocol

Dialect = Literal["sqlite", "postgresql"]
Param = str | int | float | bytes | datetime | None

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class Tx(Protocol):
    """One open transaction of a backend.

    The shared SQL is written with ``?`` placeholders, in the subset SQLite and
    PostgreSQL agree on; a backend renumbers them (``$1``) and converts datetimes
    (SQLite keeps them as fixed-width text) so callers never branch on the dialect.
    """

    async def execute(self, sql: str, *params: Param) -> None: ...

    async def executemany(self, sql: str, rows: Sequence[Sequence[Param]]) -> None: ...

    async def fetch(self, sql: str, *params: Param) -> list[tuple[Any, ...]]: ...


class Kind(StrEnum):
    """A column's neutral type."""

    TEXT = "text"
    INT = "int"
    BYTES = "bytes"
    JSON = "json"
    TIME = "time"


# Per kind: the SQLite type, then the PostgreSQL type.
_TYPES: tuple[tuple[Kind, str, str], ...] = (
    (Kind.TEXT, "TEXT", "TEXT"),
    (Kind.INT, "INTEGER", "BIGINT"),
    (Kind.BYTES, "BLOB", "BYTEA"),
    (Kind.JSON, "TEXT", "JSONB"),
    (Kind.TIME, "TEXT", "TIMESTAMPTZ"),
)


def _sql_type(kind: Kind, dialect: Dialect) -> str:
    for known, sqlite, postgresql in _TYPES:
        if known is kind:
            return sqlite if dialect == "sqlite" else postgresql
    raise AssertionError(f"no SQL type for {kind}")  # pragma: no cover - every kind is listed


@dataclass(frozen=True, slots=True)
class Column:
    """One column; ``check`` is a SQL condition both dialects accept."""

    name: str
    kind: Kind = Kind.TEXT
    nullable: bool = False
    check: str = ""


@dataclass(frozen=True, slots=True)
class Table:
    """One table: ``key`` is its primary key, which ``dump`` also orders by."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    indexes: tuple[tuple[str, ...], ...] = ()

    def create(self, dialect: Dialect) -> list[str]:
        """``CREATE … IF NOT EXISTS`` statements for the table and its indexes."""
        lines = []
        for col in self.columns:
            line = f"{col.name} {_sql_type(col.kind, dialect)}"
            if not col.nullable:
                line += " NOT NULL"
            if col.check:
                line += f" CHECK ({col.check})"
            lines.append(line)
        lines.append(f"PRIMARY KEY ({', '.join(self.key)})")
        body = ",\n    ".join(lines)
        statements = [f"CREATE TABLE IF NOT EXISTS {self.name} (\n    {body}\n)"]
        for columns in self.indexes:
            name = f"{self.name}_by_{'_'.join(columns)}"
            statements.append(
                f"CREATE INDEX IF NOT EXISTS {name} ON {self.name} ({', '.join(columns)})"
            )
        return statements

    def normalize(self, row: tuple[Any, ...]) -> dict[str, object]:
        """A row as backend-neutral Python values, for ``dump``."""
        out: dict[str, object] = {}
        for col, value in zip(self.columns, row, strict=True):
            if value is not None and col.kind is Kind.JSON:
                value = json.loads(value)
            elif value is not None and col.kind is Kind.TIME:
                value = time_text(as_time(value))
            elif isinstance(value, memoryview):
                value = bytes(value)
            out[col.name] = value
        return out


_EVENT = Column("event_id")

TABLES: tuple[Table, ...] = (
    Table(
        "datasets",
        (
            Column("dataset_id"),
            Column("checksum"),
            Column("license"),
            Column("source_refs", Kind.JSON),
            Column("pii_flags", Kind.JSON),
            Column("clearance"),
            Column("block_reasons", Kind.JSON),
            Column("created_at", Kind.TIME),
            Column("created_by"),
            Column("registered_at", Kind.TIME),
            _EVENT,
        ),
        key=("dataset_id",),
    ),
    Table(
        "dataset_transformations",
        (
            Column("dataset_id"),
            Column("position", Kind.INT),
            Column("name"),
            Column("code_ref"),
            Column("checksum"),
        ),
        key=("dataset_id", "position"),
    ),
    Table(
        "dataset_clearances",
        (
            Column("dataset_id"),
            _EVENT,
            Column("approved_by"),
            Column("reason"),
            Column("cleared_at", Kind.TIME),
        ),
        key=("dataset_id", "event_id"),
    ),
    Table(
        "artifacts",
        (
            Column("artifact_id"),
            Column("name"),
            Column("media_type"),
            Column("size_bytes", Kind.INT, check="size_bytes >= 0"),
            Column("blob_uri"),
            Column("git_commit", nullable=True),
            Column("run_config", Kind.JSON),
            Column("stored_at", Kind.TIME),
            _EVENT,
        ),
        key=("artifact_id",),
    ),
    Table(
        "models",
        (
            Column("model_id"),
            Column("family"),
            Column("version"),
            Column("code_ref"),
            Column("artifact_id"),
            Column("metrics", Kind.JSON),
            Column("created_at", Kind.TIME),
            Column("created_by"),
            Column("status"),
            Column("signer_id", nullable=True),
            Column("signature", Kind.BYTES, nullable=True),
            Column("dataset_refs", Kind.JSON),
            Column("parent_models", Kind.JSON),
            Column("provenance", Kind.JSON),
            _EVENT,
        ),
        key=("model_id",),
        indexes=(("family",),),
    ),
    Table(
        "model_status_history",
        (
            Column("model_id"),
            _EVENT,
            Column("status"),
            Column("changed_at", Kind.TIME),
            Column("actor"),
        ),
        key=("model_id", "event_id"),
    ),
    Table(
        "model_signatures",
        (
            Column("model_id"),
            _EVENT,
            Column("manifest_id"),
            Column("signer_id"),
            Column("custody"),
            Column("signature", Kind.BYTES),
            Column("payload_sha256"),
            Column("signed_at", Kind.TIME),
        ),
        key=("model_id", "event_id"),
    ),
    Table(
        "lineage_edges",
        (Column("model_id"), Column("kind"), Column("source")),
        key=("model_id", "kind", "source"),
        indexes=(("kind", "source"),),
    ),
    Table(
        "rejections",
        (
            _EVENT,
            Column("type"),
            Column("subject"),
            Column("entity"),
            Column("reasons", Kind.JSON),
            Column("actor"),
            Column("occurred_at", Kind.TIME),
        ),
        key=("event_id",),
    ),
    Table(
        "projection_offsets",
        (
            Column("projection"),
            Column("topic"),
            Column("partition", Kind.INT),
            Column("next_offset", Kind.INT),
            # Events projected from the partition, counted in the same transaction:
            # a double application would show here even though every write is
            # idempotent, which is what lets the crash tests prove exactly-once.
            Column("applied", Kind.INT),
        ),
        key=("projection", "topic", "partition"),
    ),
    Table(
        "projection_skips",
        (
            Column("projection"),
            Column("topic"),
            Column("partition", Kind.INT),
            Column("record_offset", Kind.INT),
            Column("event_id", nullable=True),
            Column("reason"),
        ),
        key=("projection", "topic", "partition", "record_offset"),
    ),
)


def create_schema(dialect: Dialect) -> list[str]:
    """Every statement that creates the schema; each is idempotent."""
    return [statement for table in TABLES for statement in table.create(dialect)]


def drop_schema() -> list[str]:
    """Statements that drop every table of the schema (indexes go with them)."""
    return [f"DROP TABLE IF EXISTS {table.name}" for table in TABLES]


def as_time(value: datetime | str) -> datetime:
    """An aware UTC datetime from a stored value (SQLite keeps text) or an event's
    datetime (naive ones are taken as UTC, as Avro's timestamp-micros has no zone)."""
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def time_text(value: datetime) -> str:
    """Fixed-width UTC text with microseconds: sorts in time order as plain text."""
    return as_time(value).strftime(_TIME_FORMAT)


def to_json(value: object) -> str:
    """Canonical JSON (sorted keys, no NaN: neither JSON nor PostgreSQL has it)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
