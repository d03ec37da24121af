"""Rows into views: the read side, shared by every SQL backend.

Results are ordered in Python rather than by ``ORDER BY`` on text: PostgreSQL sorts
text by the database's collation and SQLite by bytes, and the same question must get
the same answer from both.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from covenant.events.datasets import TrainingClearance
from covenant.events.registry import ModelStatus
from covenant.store._schema import Tx, as_time
from covenant.store.views import (
    ArtifactView,
    DatasetApproval,
    DatasetView,
    Downstream,
    EdgeKind,
    LineageEdge,
    ModelView,
    StatusChange,
    TransformationView,
    Upstream,
)

_MODEL = (
    "SELECT model_id, family, version, code_ref, artifact_id, metrics, created_at, created_by,"
    " status, signer_id, signature, dataset_refs, parent_models, provenance, event_id FROM models"
)
_DATASET = (
    "SELECT dataset_id, checksum, license, source_refs, pii_flags, clearance, block_reasons,"
    " created_at, created_by, registered_at, event_id FROM datasets"
)
_ARTIFACT = (
    "SELECT artifact_id, name, media_type, size_bytes, blob_uri, git_commit, run_config,"
    " stored_at, event_id FROM artifacts"
)
_ANCESTRY = """
WITH RECURSIVE ancestry(model_id) AS (
    SELECT CAST(? AS TEXT)
    UNION
    SELECT e.source FROM lineage_edges e JOIN ancestry a ON e.model_id = a.model_id
    WHERE e.kind = 'model'
)
SELECT e.model_id, e.kind, e.source FROM lineage_edges e
JOIN ancestry a ON e.model_id = a.model_id
"""
_DESCENDANTS = """
WITH RECURSIVE descendants(model_id) AS (
    SELECT model_id FROM lineage_edges WHERE kind = 'dataset' AND source = ?
    UNION
    SELECT e.model_id FROM lineage_edges e JOIN descendants d ON e.source = d.model_id
    WHERE e.kind = 'model'
)
SELECT e.model_id, e.kind, e.source FROM lineage_edges e
JOIN descendants d ON e.model_id = d.model_id
WHERE (e.kind = 'dataset' AND e.source = ?)
   OR (e.kind = 'model' AND e.source IN (SELECT model_id FROM descendants))
"""


def _in(column: str, values: Sequence[str]) -> str:
    return f" WHERE {column} IN ({', '.join('?' for _ in values)})"


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in json.loads(value))


def _bytes(value: object) -> bytes | None:
    return None if value is None else bytes(value)  # type: ignore[call-overload]


async def _signatures(tx: Tx, model_ids: list[str]) -> dict[str, tuple[str, bytes]]:
    """The latest manifest signature of each of ``model_ids`` (signer id, signature)."""
    if not model_ids:
        return {}
    wanted = sorted(set(model_ids))
    rows = await tx.fetch(
        "SELECT model_id, signer_id, signature, signed_at, event_id FROM model_signatures"
        + _in("model_id", wanted),
        *wanted,
    )
    latest: dict[str, tuple[str, bytes]] = {}
    for model_id, signer_id, signature, _at, _id in sorted(rows, key=lambda r: (r[3], r[4])):
        latest[str(model_id)] = (str(signer_id), bytes(signature))
    return latest


async def models(
    tx: Tx, *, ids: Iterable[str] | None = None, family: str | None = None
) -> list[ModelView]:
    """Models by id (unknown ids are left out) or family, or all of them, with their
    status history; ordered by family, creation time, then id."""
    if ids is not None:
        wanted = sorted(set(ids))
        if not wanted:
            return []
        rows = await tx.fetch(_MODEL + _in("model_id", wanted), *wanted)
        history = await tx.fetch(
            "SELECT model_id, status, changed_at, actor, event_id FROM model_status_history"
            + _in("model_id", wanted),
            *wanted,
        )
    elif family is not None:
        rows = await tx.fetch(_MODEL + " WHERE family = ?", family)
        history = await tx.fetch(
            "SELECT h.model_id, h.status, h.changed_at, h.actor, h.event_id"
            " FROM model_status_history h JOIN models m ON m.model_id = h.model_id"
            " WHERE m.family = ?",
            family,
        )
    else:
        rows = await tx.fetch(_MODEL)
        history = await tx.fetch(
            "SELECT model_id, status, changed_at, actor, event_id FROM model_status_history"
        )
    changes: dict[str, list[StatusChange]] = defaultdict(list)
    for model_id, status, changed_at, actor, event_id in history:
        changes[model_id].append(
            StatusChange(ModelStatus(status), as_time(changed_at), actor, event_id)
        )
    for model_changes in changes.values():
        model_changes.sort(key=lambda c: (c.changed_at, c.event_id))
    signed = await _signatures(tx, [str(r[0]) for r in rows])
    views = [
        ModelView(
            model_id=r[0],
            family=r[1],
            version=r[2],
            code_ref=r[3],
            artifact_id=r[4],
            metrics={str(k): float(v) for k, v in json.loads(r[5]).items()},
            created_at=as_time(r[6]),
            created_by=r[7],
            status=changes[r[0]][-1].status if changes[r[0]] else ModelStatus(r[8]),
            signer_id=signed[r[0]][0] if r[0] in signed else r[9],
            signature=signed[r[0]][1] if r[0] in signed else _bytes(r[10]),
            dataset_refs=_strings(r[11]),
            parent_models=_strings(r[12]),
            provenance={str(k): str(v) for k, v in json.loads(r[13]).items()},
            history=tuple(changes[r[0]]),
            event_id=r[14],
        )
        for r in rows
    ]
    return sorted(views, key=lambda m: (m.family, m.created_at, m.model_id))


async def datasets(tx: Tx, ids: Iterable[str]) -> list[DatasetView]:
    """Datasets by id, with transformations in lineage order; unknown ids are left
    out; ordered by id."""
    wanted = sorted(set(ids))
    if not wanted:
        return []
    rows = await tx.fetch(_DATASET + _in("dataset_id", wanted), *wanted)
    steps: dict[str, list[tuple[int, TransformationView]]] = defaultdict(list)
    for dataset_id, position, name, code_ref, checksum in await tx.fetch(
        "SELECT dataset_id, position, name, code_ref, checksum FROM dataset_transformations"
        + _in("dataset_id", wanted),
        *wanted,
    ):
        steps[dataset_id].append((int(position), TransformationView(name, code_ref, checksum)))
    approvals: dict[str, list[DatasetApproval]] = defaultdict(list)
    for dataset_id, approved_by, reason, cleared_at, event_id in await tx.fetch(
        "SELECT dataset_id, approved_by, reason, cleared_at, event_id FROM dataset_clearances"
        + _in("dataset_id", wanted),
        *wanted,
    ):
        approvals[dataset_id].append(
            DatasetApproval(approved_by, reason, as_time(cleared_at), event_id)
        )
    views = [
        DatasetView(
            dataset_id=r[0],
            checksum=r[1],
            license=r[2],
            source_refs=_strings(r[3]),
            transformations=tuple(t for _, t in sorted(steps[r[0]], key=lambda s: s[0])),
            pii_flags=_strings(r[4]),
            clearance=TrainingClearance.ALLOWED if approvals[r[0]] else TrainingClearance(r[5]),
            block_reasons=_strings(r[6]),
            approvals=tuple(sorted(approvals[r[0]], key=lambda a: (a.cleared_at, a.event_id))),
            created_at=as_time(r[7]),
            created_by=r[8],
            registered_at=as_time(r[9]),
            event_id=r[10],
        )
        for r in rows
    ]
    return sorted(views, key=lambda d: d.dataset_id)


async def artifacts(tx: Tx, ids: Iterable[str]) -> list[ArtifactView]:
    """Artifacts by id; unknown ids are left out; ordered by id."""
    wanted = sorted(set(ids))
    if not wanted:
        return []
    rows = await tx.fetch(_ARTIFACT + _in("artifact_id", wanted), *wanted)
    views = [
        ArtifactView(
            artifact_id=r[0],
            name=r[1],
            media_type=r[2],
            size_bytes=int(r[3]),
            blob_uri=r[4],
            git_commit=r[5],
            run_config={str(k): str(v) for k, v in json.loads(r[6]).items()},
            stored_at=as_time(r[7]),
            event_id=r[8],
        )
        for r in rows
    ]
    return sorted(views, key=lambda a: a.artifact_id)


def _edges(rows: Iterable[tuple[Any, ...]]) -> tuple[LineageEdge, ...]:
    edges = {LineageEdge(str(m), EdgeKind(k), str(s)) for m, k, s in rows}
    return tuple(sorted(edges, key=lambda e: (e.model_id, e.kind.value, e.source)))


async def upstream(tx: Tx, model_id: str) -> Upstream | None:
    """Walk parent edges from ``model_id`` and gather what every model on the way
    was made from."""
    if not await tx.fetch("SELECT 1 FROM models WHERE model_id = ?", model_id):
        return None
    edges = _edges(await tx.fetch(_ANCESTRY, model_id))

    def sources(kind: EdgeKind) -> set[str]:
        return {e.source for e in edges if e.kind is kind}

    found_datasets = await datasets(tx, sources(EdgeKind.DATASET))
    artifact_ids = sources(EdgeKind.ARTIFACT) | {d.checksum for d in found_datasets}
    code_refs = sources(EdgeKind.CODE)
    code_refs |= {t.code_ref for d in found_datasets for t in d.transformations}
    return Upstream(
        model_id=model_id,
        models=tuple(await models(tx, ids=sources(EdgeKind.MODEL) - {model_id})),
        datasets=tuple(found_datasets),
        artifacts=tuple(await artifacts(tx, artifact_ids)),
        code_refs=tuple(sorted(code_refs)),
        edges=edges,
    )


async def downstream(tx: Tx, dataset_id: str) -> Downstream:
    """Models trained on ``dataset_id`` and, recursively, their children."""
    edges = _edges(await tx.fetch(_DESCENDANTS, dataset_id, dataset_id))
    found = await models(tx, ids={e.model_id for e in edges})
    return Downstream(dataset_id=dataset_id, models=tuple(found), edges=edges)
