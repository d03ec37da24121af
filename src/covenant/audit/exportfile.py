"""The export file format: its record schema, its header, and a writer for it.

One Avro object container file of ``covenant.audit.ExportedRecord`` records (see
``covenant.audit.export`` for what goes in it and in which order). Kept apart from the
exporter so that the scanner, which only reads files, need not import the exporter.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

import fastavro
from fastavro.write import Writer

from covenant.audit.records import Checkpoint
from covenant.bus.protocol import Record
from covenant.events.base import utc_now

__all__ = ["EXPORT_FORMAT", "ExportWriter", "export_schema", "write_export"]

EXPORT_FORMAT: Final = "covenant-audit-export/1"


def export_schema() -> dict[str, Any]:
    """The Avro schema of every record in an export file (a fresh copy each call)."""
    return {
        "type": "record",
        "name": "covenant.audit.ExportedRecord",
        "doc": "One log record exactly as it was on the log, with its position.",
        "fields": [
            {"name": "topic", "type": "string"},
            {"name": "partition", "type": "int"},
            {"name": "offset", "type": "long"},
            {"name": "key", "type": ["null", "bytes"]},
            {"name": "value", "type": "bytes"},
            {"name": "timestampMs", "type": "long"},
        ],
    }


_BLOCK_BYTES = 256 * 1024  # fewer, larger blocks: less per-block work when verifying


def _row(rec: Record) -> dict[str, Any]:
    return {
        "topic": rec.topic,
        "partition": rec.partition,
        "offset": rec.offset,
        "key": rec.key,
        "value": rec.value,
        "timestampMs": rec.timestamp_ms,
    }


class ExportWriter:
    """Writes an export file record by record, atomically: the file appears at ``out``
    only when the writer is closed without an error.

    Args:
        out: the file to create.
        checkpoint: the last checkpoint the export covers (its size and root go in the
            header as hints).
        records: how many records will be written (the header's truncation check).
        codec: Avro block codec; ``null`` (see the module docstring), or ``deflate``,
            which the verifiers read too.
    """

    def __init__(
        self, out: Path, *, checkpoint: Checkpoint, records: int, codec: str = "null"
    ) -> None:
        self.out = out
        self.written = 0
        self._tmp = out.with_name(out.name + ".partial")
        self._fo = self._tmp.open("wb")
        metadata = {
            "covenant.format": EXPORT_FORMAT,
            "covenant.created": utc_now().isoformat(),
            "covenant.records": str(records),
            "covenant.tree_size": str(checkpoint.tree_size),
            "covenant.root": checkpoint.root_hash.hex(),
        }
        self._writer = Writer(
            self._fo,
            fastavro.parse_schema(export_schema()),
            codec=codec,
            sync_interval=_BLOCK_BYTES,
            metadata=metadata,
        )

    def write(self, rec: Record) -> None:
        """Append one record."""
        self._writer.write(_row(rec))
        self.written += 1

    def __enter__(self) -> ExportWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        try:
            if exc_type is None:
                self._writer.flush()
            self._fo.close()
            if exc_type is None:
                self._tmp.replace(self.out)
        finally:
            self._tmp.unlink(missing_ok=True)


def write_export(
    out: Path,
    records: Iterable[Record],
    *,
    checkpoint: Checkpoint,
    count: int,
    codec: str = "null",
) -> int:
    """Write records already in audit order to ``out``; returns how many were written."""
    with ExportWriter(out, checkpoint=checkpoint, records=count, codec=codec) as writer:
        for rec in records:
            writer.write(rec)
    return writer.written
