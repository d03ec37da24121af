"""Exporting the log as one self-contained, verifiable file, and verifying such a file.

The file is one Avro object container file of ``covenant.audit.ExportedRecord`` records
(``export_schema()``), every record of every topic up to the last signed checkpoint, in
*audit order*: each ``LeavesAppended`` of the audit topic followed by the records its
leaves name, in leaf order, and each ``CheckpointSigned`` after the batches it covers.
That order lets a verifier stream the file in one pass with memory bounded by one batch,
and it is the log's total order made visible.

What verification vouches for is each record's position and value bytes (the leaf
commits to both). ``key`` and ``timestampMs`` are exported as the log has them, for
whoever replays the file, but no digest covers them: treat them as hints.

Block codec: ``null`` by default, because verification speed is what an export is for:
on the benchmark's 1,000,000 records (``bench/audit_verify.py``) deflate made the file
about a quarter of the size (its values are near-identical; real ones compress less) but
verifying it took 1.2 to 1.3 times as long. ``deflate`` is there for when size matters;
both verifiers read either.

The header carries ``covenant.format`` = ``covenant-audit-export/1``, the creation time,
and the record count, tree size and root of the last checkpoint. Those are unsigned
hints: the count turns a file cut at a block boundary into a clear "truncated" failure,
and the tree size and root let a person compare the file with a checkpoint they obtained
independently (a file cut back to an *older* checkpoint is a valid, older export; only
an outside reference tells the two apart).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import fastavro

from covenant.audit.cursor import LogCursor
from covenant.audit.exportfile import EXPORT_FORMAT, ExportWriter, export_schema, write_export
from covenant.audit.records import AuditBatch, AuditError, Checkpoint, audited_topics, decode_audit
from covenant.audit.results import Discrepancy, DiscrepancyError, Progress, VerifyResult
from covenant.audit.verify import AuditVerifier
from covenant.bus.protocol import Bus, Record, TopicPartition
from covenant.events.codec import Codec
from covenant.topics import ALL_TOPICS, AUDIT

__all__ = [
    "EXPORT_FORMAT",
    "ExportSummary",
    "ExportWriter",
    "export",
    "export_schema",
    "verify_file",
    "write_export",
]


@dataclass(frozen=True, slots=True)
class ExportSummary:
    """What ``export`` wrote."""

    path: Path
    records: int
    audit_records: int
    tree_size: int
    root_hash: bytes


async def _last_checkpoint(bus: Bus, codec: Codec) -> tuple[int, int, Checkpoint]:
    """(offset of the last checkpoint, audit records up to it, the checkpoint)."""
    found: tuple[int, int, Checkpoint] | None = None
    seen = 0
    async for rec in bus.read([AUDIT]):
        seen += 1
        item = decode_audit(codec, rec.value)
        if isinstance(item, Checkpoint):
            found = (rec.offset, seen, item)
    if found is None:
        raise AuditError("nothing to export: the audit trail has no signed checkpoint yet")
    return found


async def export(
    bus: Bus,
    codec: Codec,
    out: Path,
    *,
    progress: Progress | None = None,
    block_codec: str = "null",
) -> ExportSummary:
    """Write every record up to the last signed checkpoint to ``out``, in audit order.

    Records are written exactly as they are on the log; a record a leaf names but the
    log lacks is left out (and so reported by ``verify_file``), never invented.

    Args:
        bus: the log.
        codec: decodes the audit records.
        out: the file to create (atomically: it appears only when complete).
        progress: advanced by records written.
        block_codec: ``null`` (default, fastest to verify) or ``deflate`` (smaller).

    Raises:
        AuditError: there is no signed checkpoint yet, or the audit topic does not decode.
    """
    await bus.ensure_topics(ALL_TOPICS)
    last_offset, audit_records, checkpoint = await _last_checkpoint(bus, codec)
    cursor = LogCursor(bus.read(audited_topics(ALL_TOPICS)))
    count = audit_records + checkpoint.tree_size
    try:
        with ExportWriter(out, checkpoint=checkpoint, records=count, codec=block_codec) as writer:
            async for rec in bus.read([AUDIT]):
                if rec.offset > last_offset:
                    break
                writer.write(rec)
                item = decode_audit(codec, rec.value)
                if isinstance(item, AuditBatch):
                    for leaf in item.leaves:
                        await _write_leaf_records(
                            writer, cursor, (leaf.topic, leaf.partition), leaf.offset
                        )
                    if progress is not None:
                        progress(len(item.leaves) + 1)
    finally:
        await cursor.aclose()
    return ExportSummary(
        out, writer.written, audit_records, checkpoint.tree_size, checkpoint.root_hash
    )


async def _write_leaf_records(
    writer: ExportWriter, cursor: LogCursor, tp: TopicPartition, offset: int
) -> None:
    """Write the partition's records up to and including the leaf's.

    Records before the leaf's in its partition are records the audit worker skipped;
    they are written too, so that verification reports them.
    """
    while (rec := await cursor.peek(tp)) is not None and rec.offset <= offset:
        await cursor.take(tp)
        writer.write(rec)


def verify_file(
    path: Path,
    public_key_pem: bytes,
    *,
    codec: Codec | None = None,
    progress: Progress | None = None,
    fast: bool = True,
) -> VerifyResult:
    """Verify an export file with nothing but the file and the audit public key.

    Tries the fast scanner first (``covenant.audit.scan``); when it cannot vouch for the
    file, the exact verifier reads it again and names the first discrepancy. A file
    that is cut short, not Avro, or not an export is a failed result, not an exception.

    Args:
        path: the export file.
        public_key_pem: the audit signer's public key.
        codec: decodes audit records; the default knows exactly those.
        progress: advanced by records verified.
        fast: False skips the fast scanner (the two must agree; tests compare them).

    Raises:
        AuditError: ``public_key_pem`` is not a readable Ed25519 public key.
    """
    if fast:
        from covenant.audit.scan import scan_file

        scanned = 0

        def counted(n: int) -> None:
            nonlocal scanned
            scanned += n
            if progress is not None:
                progress(n)

        result = scan_file(path, public_key_pem, codec=codec, progress=counted)
        if result is not None:
            return result
        if progress is not None and scanned:
            progress(-scanned)  # the exact pass counts from the start again
    return _verify_exact(path, public_key_pem, codec=codec, progress=progress)


def _verify_exact(
    path: Path, public_key_pem: bytes, *, codec: Codec | None, progress: Progress | None
) -> VerifyResult:
    verifier = AuditVerifier(public_key_pem=public_key_pem, codec=codec)
    read = 0
    last = "the header"
    try:
        with path.open("rb") as fo:
            try:
                reader = fastavro.reader(fo)
            except Exception as exc:  # fastavro raises many types for a bad header
                return verifier.result(
                    Discrepancy(
                        f"{path} is not an Avro container file, or is truncated inside its "
                        f"header: {exc}"
                    )
                )
            meta = reader.metadata
            if meta.get("covenant.format") != EXPORT_FORMAT:
                return verifier.result(
                    Discrepancy(f"{path} is not a Covenant audit export ({EXPORT_FORMAT})")
                )
            try:
                for item in reader:
                    row = cast(dict[str, Any], item)
                    rec = Record(
                        row["topic"],
                        row["partition"],
                        row["offset"],
                        row["key"],
                        row["value"],
                        row["timestampMs"],
                    )
                    verifier.feed(rec)
                    read += 1
                    last = f"{rec.topic}/{rec.partition}@{rec.offset}"
                    if progress is not None:
                        progress(1)
            except DiscrepancyError:
                raise
            except Exception as exc:  # a cut or corrupted block: fastavro has no one error type
                return verifier.result(
                    Discrepancy(
                        f"the file is truncated or corrupt after record {read} ({last}): "
                        f"{type(exc).__name__}: {exc}"
                    )
                )
        try:
            promised = int(meta.get("covenant.records", read))
        except ValueError:
            promised = read  # an unreadable hint is no evidence either way
        if read < promised:
            return verifier.result(
                Discrepancy(
                    f"the file is truncated: it ends after record {read} ({last}) but its "
                    f"header promises {promised} records"
                )
            )
        return verifier.finish()
    except DiscrepancyError as exc:
        return verifier.result(exc.discrepancy)
