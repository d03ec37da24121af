"""Dataset registration: turns ``dataset.register`` into ``dataset.registered``.

A dataset flagged for PII, or whose provenance review has not passed, is
registered *blocked* for training: the fact is recorded now, and only a later
approval event clears it. The checksum is the artifact's content address, which
Covenant computed from the bytes when it stored them; the caller never supplies it.
"""

from __future__ import annotations

import re

from covenant.events.base import Message
from covenant.events.datasets import (
    DatasetLineage,
    DatasetRegistered,
    DatasetRejected,
    ProvenanceReview,
    RegisterDataset,
    TrainingClearance,
)
from covenant.runtime.worker import Context, Worker
from covenant.topics import DATASET_COMMANDS, DATASET_EVENTS

_SHA256 = re.compile(r"^sha256:[0-9a-f]{64}$")


def block_reasons(command: RegisterDataset) -> list[str]:
    """Why a dataset may not train yet; empty when it may."""
    reasons = []
    if command.pii_flags:
        reasons.append(f"flagged for PII ({', '.join(command.pii_flags)}); needs approval")
    if command.provenance_review is not ProvenanceReview.PASSED:
        reasons.append(f"provenance review is {command.provenance_review.value}, not passed")
    return reasons


def rejection_reasons(command: RegisterDataset) -> list[str]:
    """Why the registration is invalid; empty when it is valid."""
    reasons = []
    if not _SHA256.match(command.artifact_id):
        reasons.append(f"artifact id {command.artifact_id!r} is not a sha256:<64 hex> address")
    if not command.license.strip():
        reasons.append("license is empty; name the license (e.g. CC-BY-4.0 or proprietary)")
    reasons.extend(
        f"transformation {t.name!r} checksum {t.checksum!r} is not sha256:<64 hex>"
        for t in command.transformations
        if not _SHA256.match(t.checksum)
    )
    return reasons


async def handle(message: Message, ctx: Context) -> None:
    assert isinstance(message, RegisterDataset)  # the runtime checks ``accepts``
    rejected = rejection_reasons(message)
    if rejected:
        ctx.emit(DatasetRejected, dataset_id=message.dataset_id, reasons=rejected)
        return
    blocked = block_reasons(message)
    ctx.emit(
        DatasetRegistered,
        lineage=DatasetLineage(
            dataset_id=message.dataset_id,
            source_refs=message.source_refs,
            transformations=message.transformations,
            checksum=message.artifact_id,
            license=message.license,
            pii_flags=message.pii_flags,
            created_at=message.meta.occurred_at,
            created_by=message.meta.actor,
        ),
        clearance=TrainingClearance.BLOCKED if blocked else TrainingClearance.ALLOWED,
        block_reasons=blocked,
    )


DATASETS = Worker(
    name="datasets",
    inputs=(DATASET_COMMANDS,),
    outputs=(DATASET_EVENTS,),
    accepts=(RegisterDataset,),
    handle=handle,
    description="registers datasets with lineage; blocks PII and unreviewed data",
)
