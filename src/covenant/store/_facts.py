"""Facts into rows: how each projected event changes the read model.

Every write here is idempotent and independent of arrival order, so a live
projection and a rebuild end in the same rows however partitions interleaved:

* a registration (dataset, artifact, model) keyed by its entity id is kept only
  when no row exists or the existing row came from a *later* event id (UUIDv7, so
  the earliest registration wins, as registrations are immutable facts); the rows
  derived from the replaced event (transformations, lineage edges, the status it
  set) are replaced with it;
* rejections and clearances are keyed by their own event id and inserted once; a
  dataset's current clearance is derived when read (any clearance allows it), so
  it does not matter whether the clearance or the registration is projected first.

The log keeps every fact, including a duplicate registration this projection
ignores: the read model answers "what is registered", the log "what was said".
"""

from __future__ import annotations

from covenant.events.artifacts import ArtifactRejected, ArtifactStored
from covenant.events.base import Message
from covenant.events.datasets import DatasetCleared, DatasetRegistered, DatasetRejected
from covenant.events.registry import ModelRegistered, ModelRejected
from covenant.store._promotion_facts import project_promotion
from covenant.store._schema import Param, Tx, as_time, to_json
from covenant.store.views import EdgeKind


async def project(tx: Tx, message: Message) -> bool:
    """Write one event's rows; False when this store does not project its type."""
    if isinstance(message, DatasetRegistered):
        await _dataset_registered(tx, message)
    elif isinstance(message, DatasetCleared):
        await _dataset_cleared(tx, message)
    elif isinstance(message, ArtifactStored):
        await _artifact_stored(tx, message)
    elif isinstance(message, ModelRegistered):
        await _model_registered(tx, message)
    elif isinstance(message, DatasetRejected):
        await _rejected(tx, message, entity=message.dataset_id, reasons=message.reasons)
    elif isinstance(message, ArtifactRejected):
        await _rejected(tx, message, entity=message.name, reasons=[message.reason])
    elif isinstance(message, ModelRejected):
        entity = f"{message.family}:{message.version}"
        await _rejected(tx, message, entity=entity, reasons=message.reasons)
    else:
        return await project_promotion(tx, message)
    return True


async def _claim(
    tx: Tx, table: str, key: str, value: str, event_id: str
) -> tuple[bool, str | None]:
    """Whether ``event_id`` may write the row of ``value`` (there is none, or it came
    from a later event), and the event id of the row it replaces.

    A replaced row is deleted here; the caller deletes what was derived from it.
    """
    rows = await tx.fetch(f"SELECT event_id FROM {table} WHERE {key} = ?", value)
    if not rows:
        return True, None
    stored = str(rows[0][0])
    if stored <= event_id:
        return False, None
    await tx.execute(f"DELETE FROM {table} WHERE {key} = ?", value)
    return True, stored


async def _insert(tx: Tx, table: str, values: dict[str, Param]) -> None:
    columns = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    await tx.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", *values.values())


async def _dataset_registered(tx: Tx, event: DatasetRegistered) -> None:
    lineage = event.lineage
    claimed, _ = await _claim(tx, "datasets", "dataset_id", lineage.dataset_id, event.meta.event_id)
    if not claimed:
        return
    await tx.execute("DELETE FROM dataset_transformations WHERE dataset_id = ?", lineage.dataset_id)
    await _insert(
        tx,
        "datasets",
        {
            "dataset_id": lineage.dataset_id,
            "checksum": lineage.checksum,
            "license": lineage.license,
            "source_refs": to_json(lineage.source_refs),
            "pii_flags": to_json(lineage.pii_flags),
            "clearance": event.clearance.value,
            "block_reasons": to_json(event.block_reasons),
            "created_at": as_time(lineage.created_at),
            "created_by": lineage.created_by,
            "registered_at": as_time(event.meta.occurred_at),
            "event_id": event.meta.event_id,
        },
    )
    await tx.executemany(
        "INSERT INTO dataset_transformations (dataset_id, position, name, code_ref, checksum)"
        " VALUES (?, ?, ?, ?, ?)",
        [
            (lineage.dataset_id, i, t.name, t.code_ref, t.checksum)
            for i, t in enumerate(lineage.transformations)
        ],
    )


async def _dataset_cleared(tx: Tx, event: DatasetCleared) -> None:
    await tx.execute(
        "INSERT INTO dataset_clearances (dataset_id, event_id, approved_by, reason, cleared_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (dataset_id, event_id) DO NOTHING",
        event.dataset_id,
        event.meta.event_id,
        event.approved_by,
        event.reason,
        as_time(event.meta.occurred_at),
    )


async def _artifact_stored(tx: Tx, event: ArtifactStored) -> None:
    claimed, _ = await _claim(
        tx, "artifacts", "artifact_id", event.artifact_id, event.meta.event_id
    )
    if not claimed:
        return
    await _insert(
        tx,
        "artifacts",
        {
            "artifact_id": event.artifact_id,
            "name": event.name,
            "media_type": event.media_type,
            "size_bytes": event.size_bytes,
            "blob_uri": event.blob_uri,
            "git_commit": event.git_commit,
            "run_config": to_json(event.run_config),
            "stored_at": as_time(event.meta.occurred_at),
            "event_id": event.meta.event_id,
        },
    )


async def _model_registered(tx: Tx, event: ModelRegistered) -> None:
    entry = event.entry
    claimed, replaced = await _claim(tx, "models", "model_id", entry.model_id, event.meta.event_id)
    if not claimed:
        return
    if replaced is not None:
        await tx.execute("DELETE FROM lineage_edges WHERE model_id = ?", entry.model_id)
        await tx.execute(
            "DELETE FROM model_status_history WHERE model_id = ? AND event_id = ?",
            entry.model_id,
            replaced,
        )
    await _insert(
        tx,
        "models",
        {
            "model_id": entry.model_id,
            "family": entry.family,
            "version": entry.version,
            "code_ref": entry.code_ref,
            "artifact_id": entry.artifact_id,
            "metrics": to_json(entry.metrics),
            "created_at": as_time(entry.created_at),
            "created_by": entry.created_by,
            "status": entry.status.value,
            "signer_id": entry.signer_id,
            "signature": entry.signature,
            "dataset_refs": to_json(entry.lineage.dataset_refs),
            "parent_models": to_json(entry.lineage.parent_models),
            "provenance": to_json(entry.provenance),
            "event_id": event.meta.event_id,
        },
    )
    edges = {(EdgeKind.DATASET.value, ref) for ref in entry.lineage.dataset_refs}
    edges |= {(EdgeKind.MODEL.value, ref) for ref in entry.lineage.parent_models}
    edges.add((EdgeKind.ARTIFACT.value, entry.artifact_id))
    edges.add((EdgeKind.CODE.value, entry.code_ref))
    await tx.executemany(
        "INSERT INTO lineage_edges (model_id, kind, source) VALUES (?, ?, ?)",
        [(entry.model_id, kind, source) for kind, source in sorted(edges)],
    )
    await _insert(
        tx,
        "model_status_history",
        {
            "model_id": entry.model_id,
            "event_id": event.meta.event_id,
            "status": entry.status.value,
            "changed_at": as_time(event.meta.occurred_at),
            "actor": event.meta.actor,
        },
    )


async def _rejected(tx: Tx, event: Message, *, entity: str, reasons: list[str]) -> None:
    await tx.execute(
        "INSERT INTO rejections (event_id, type, subject, entity, reasons, actor, occurred_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING",
        event.meta.event_id,
        event.meta.type,
        event.meta.subject,
        entity,
        to_json(reasons),
        event.meta.actor,
        as_time(event.meta.occurred_at),
    )
