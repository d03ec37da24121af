"""Dataset registration: ``dataset.register`` → ``dataset.registered``, and
``dataset.approve`` → ``dataset.cleared``.

A dataset flagged for PII, or whose provenance review has not passed, is
registered *blocked* for training: the fact is recorded now, and only a later
approval clears it. The checksum is the content address of the dataset's bytes,
which Covenant computed when it stored them and the artifact worker verified; the
caller never supplies it, and a dataset whose bytes are not a stored artifact is
refused. Dataset ids are unique and immutable: a new version is a new id.
"""

from __future__ import annotations

import re

from covenant.events.artifacts import ArtifactRejected, ArtifactStored
from covenant.events.base import Message
from covenant.events.datasets import (
    ApproveDataset,
    DatasetCleared,
    DatasetLineage,
    DatasetRegistered,
    DatasetRejected,
    ProvenanceReview,
    RegisterDataset,
    TrainingClearance,
)
from covenant.runtime.worker import Context, Worker
from covenant.topics import ARTIFACT_EVENTS, DATASET_COMMANDS, DATASET_EVENTS
from covenant.workers.catalog_state import CatalogState

SHA256_ID = re.compile(r"^sha256:[0-9a-f]{64}$")


def block_reasons(command: RegisterDataset) -> list[str]:
    """Why a dataset may not train yet; empty when it may."""
    reasons = []
    if command.pii_flags:
        reasons.append(f"flagged for PII ({', '.join(command.pii_flags)}); needs approval")
    if command.provenance_review is not ProvenanceReview.PASSED:
        reasons.append(f"provenance review is {command.provenance_review.value}, not passed")
    return reasons


def rejection_reasons(command: RegisterDataset, state: CatalogState) -> list[str]:
    """Why the registration is invalid; empty when it is valid."""
    reasons = []
    if command.dataset_id in state.datasets:
        reasons.append(
            f"dataset {command.dataset_id!r} is already registered and immutable; "
            "register the new data under a new id (e.g. name:v2)"
        )
    if not SHA256_ID.match(command.artifact_id):
        reasons.append(f"artifact id {command.artifact_id!r} is not a sha256:<64 hex> address")
    elif command.artifact_id not in state.artifacts:
        reasons.append(
            f"artifact {command.artifact_id} is not stored; upload the data first "
            "(covenant artifacts put)"
        )
    if not command.license.strip():
        reasons.append("license is empty; name the license (e.g. CC-BY-4.0 or proprietary)")
    reasons.extend(
        f"transformation {t.name!r} checksum {t.checksum!r} is not sha256:<64 hex>"
        for t in command.transformations
        if not SHA256_ID.match(t.checksum)
    )
    return reasons


def _register(command: RegisterDataset, ctx: Context, state: CatalogState) -> None:
    known = state.datasets.get(command.dataset_id)
    key = command.meta.idempotency_key
    if known is not None and key is not None and known.idempotency_key == key:
        return  # a retry of a request already decided: nothing new to say
    rejected = rejection_reasons(command, state)
    if rejected:
        ctx.emit(DatasetRejected, dataset_id=command.dataset_id, reasons=rejected)
        return
    blocked = block_reasons(command)
    ctx.emit(
        DatasetRegistered,
        lineage=DatasetLineage(
            dataset_id=command.dataset_id,
            source_refs=command.source_refs,
            transformations=command.transformations,
            checksum=command.artifact_id,
            license=command.license,
            pii_flags=command.pii_flags,
            created_at=command.meta.occurred_at,
            created_by=command.meta.actor,
        ),
        clearance=TrainingClearance.BLOCKED if blocked else TrainingClearance.ALLOWED,
        block_reasons=blocked,
    )


def _approve(command: ApproveDataset, ctx: Context, state: CatalogState) -> None:
    known = state.datasets.get(command.dataset_id)
    problem = None
    if known is None:
        problem = f"dataset {command.dataset_id!r} is not registered"
    elif known.clearance is TrainingClearance.ALLOWED:
        problem = f"dataset {command.dataset_id!r} is not blocked; nothing to approve"
    elif not command.reason.strip():
        problem = "an approval needs a reason; it is kept in the audit trail"
    if problem:
        ctx.emit(DatasetRejected, dataset_id=command.dataset_id, reasons=[problem])
        return
    ctx.emit(
        DatasetCleared,
        dataset_id=command.dataset_id,
        approved_by=command.meta.actor,
        reason=command.reason,
    )


def make_datasets_worker() -> Worker:
    """A fresh datasets worker with its own state."""
    state = CatalogState()

    async def handle(message: Message, ctx: Context) -> None:
        if isinstance(message, RegisterDataset):
            _register(message, ctx, state)
        elif isinstance(message, ApproveDataset):
            _approve(message, ctx, state)
        # Artifact events only feed the state (the runtime folds them).

    return Worker(
        name="datasets",
        inputs=(ARTIFACT_EVENTS, DATASET_COMMANDS),  # facts first, see the registry
        outputs=(DATASET_EVENTS,),
        accepts=(RegisterDataset, ApproveDataset, ArtifactStored, ArtifactRejected),
        handle=handle,
        description="registers datasets with lineage; blocks PII and unreviewed data",
        state=state,
    )
