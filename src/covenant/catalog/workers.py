"""The catalog's stream workers: thin adapters from the log to ``decisions``.

* ``datasets``: ``dataset.register`` → ``dataset.registered`` (blocked for training
  when flagged for PII or unreviewed) or ``dataset.rejected``; ``dataset.approve`` →
  ``dataset.cleared``. The checksum is the content address of stored bytes, never
  the caller's word.
* ``registry``: ``model.register`` → ``model.registered`` (``draft``) or
  ``model.rejected``. The single writer per model, so versions stay unique and
  immutable without a lock service.
* ``artifacts``: ``artifact.record`` → ``artifact.stored`` or ``artifact.rejected``,
  after re-hashing the stored bytes against the uploader's claim.

The deciding workers fold the catalog's facts into a ``CatalogState``; the facts
they depend on but do not own (artifacts for both, datasets for the registry) are
global tables, read from every partition whatever the group assigned (see
``covenant.runtime``), so they scale out.
"""

from __future__ import annotations

import re
from typing import Any

from covenant.blobs.protocol import BlobStore, StoredBlob
from covenant.catalog import decisions
from covenant.catalog.decisions import model_id
from covenant.catalog.state import CatalogState
from covenant.events.artifacts import ArtifactRejected, ArtifactStored, RecordArtifact
from covenant.events.base import Message
from covenant.events.datasets import (
    ApproveDataset,
    DatasetCleared,
    DatasetLineage,
    DatasetRegistered,
    DatasetRejected,
    RegisterDataset,
    TrainingClearance,
)
from covenant.events.refusals import Refusal, RefusalCode, messages
from covenant.events.registry import (
    ModelRegistered,
    ModelRegistryEntry,
    ModelRejected,
    ModelStatus,
    RegisterModel,
)
from covenant.runtime.worker import Context, Worker
from covenant.topics import (
    ARTIFACT_COMMANDS,
    ARTIFACT_EVENTS,
    DATASET_COMMANDS,
    DATASET_EVENTS,
    MODEL_COMMANDS,
    MODEL_EVENTS,
)

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# What a registry entry takes over from the request as it is.
_ENTRY_FIELDS = (
    "family",
    "version",
    "code_ref",
    "artifact_id",
    "metrics",
    "signer_id",
    "signature",
    "lineage",
    "provenance",
)


def _copied(command: Message, *names: str) -> dict[str, Any]:
    """The named fields of ``command``, as they are, for the fact it leads to."""
    return {name: getattr(command, name) for name in names}


def _reject_dataset(ctx: Context, dataset_id: str, refusals: list[Refusal]) -> None:
    ctx.emit(DatasetRejected, dataset_id=dataset_id, reasons=messages(refusals), refusals=refusals)


def _register_dataset(command: RegisterDataset, ctx: Context, state: CatalogState) -> None:
    known = state.datasets.get(command.dataset_id)
    key = command.meta.idempotency_key
    if known is not None and key is not None and known.idempotency_key == key:
        return  # a retry of a request already decided: nothing new to say
    refusals = decisions.dataset_refusals(command, state)
    if refusals:
        _reject_dataset(ctx, command.dataset_id, refusals)
        return
    blocked = decisions.block_reasons(command)
    ctx.emit(
        DatasetRegistered,
        lineage=DatasetLineage(
            checksum=command.artifact_id,
            created_at=command.meta.occurred_at,
            created_by=command.meta.actor,
            **_copied(command, "dataset_id", "source_refs", "transformations", "license"),
            pii_flags=command.pii_flags,
        ),
        clearance=TrainingClearance.BLOCKED if blocked else TrainingClearance.ALLOWED,
        block_reasons=blocked,
        provenance_review=command.provenance_review,
    )


def _approve_dataset(command: ApproveDataset, ctx: Context, state: CatalogState) -> None:
    refusals = decisions.approval_refusals(command, state)
    if refusals:
        _reject_dataset(ctx, command.dataset_id, refusals)
        return
    ctx.emit(
        DatasetCleared,
        dataset_id=command.dataset_id,
        approved_by=command.meta.actor,
        reason=command.reason,
    )


def make_datasets_worker() -> Worker:
    """A fresh datasets worker with its own state."""
    # Its rules look at datasets and stored artifacts only: catching the model
    # topic up before every batch would be reading for nothing.
    state = CatalogState(topics=(DATASET_EVENTS, ARTIFACT_EVENTS))

    async def handle(message: Message, ctx: Context) -> None:
        if isinstance(message, RegisterDataset):
            _register_dataset(message, ctx, state)
        elif isinstance(message, ApproveDataset):
            _approve_dataset(message, ctx, state)

    return Worker(
        name="datasets",
        inputs=(DATASET_COMMANDS,),
        outputs=(DATASET_EVENTS,),
        accepts=(RegisterDataset, ApproveDataset),
        handle=handle,
        description="registers datasets with lineage; blocks PII and unreviewed data",
        state=state,
    )


def _register_model(command: RegisterModel, ctx: Context, state: CatalogState) -> None:
    key = command.meta.idempotency_key
    known = state.models.get(model_id(command.family, command.version), "")
    if key is not None and known == key:
        return  # a retry of a request already decided: nothing new to say
    refusals = decisions.model_refusals(command, state)
    if refusals:
        ctx.emit(
            ModelRejected,
            family=command.family,
            version=command.version,
            reasons=messages(refusals),
            refusals=refusals,
        )
        return
    ctx.emit(
        ModelRegistered,
        entry=ModelRegistryEntry(
            model_id=model_id(command.family, command.version),
            created_at=command.meta.occurred_at,
            created_by=command.meta.actor,
            status=ModelStatus.DRAFT,
            **_copied(command, *_ENTRY_FIELDS),
        ),
    )


def make_registry_worker() -> Worker:
    """A fresh registry worker with its own state."""
    state = CatalogState()

    async def handle(message: Message, ctx: Context) -> None:
        assert isinstance(message, RegisterModel)  # the runtime checks ``accepts``
        _register_model(message, ctx, state)

    return Worker(
        name="registry",
        inputs=(MODEL_COMMANDS,),
        outputs=(MODEL_EVENTS,),
        accepts=(RegisterModel,),
        handle=handle,
        description="registers model versions: unique, SemVer, lineage that exists",
        state=state,
    )


async def check_claim(
    command: RecordArtifact, blobs: BlobStore
) -> tuple[StoredBlob | None, list[Refusal]]:
    """The stored blob that proves the claim, or why the claim cannot be recorded.

    The size is compared first (a metadata lookup), the digest only when it
    matches, so an obviously wrong claim costs no re-read of the bytes.
    """
    refusals = [
        Refusal(code=RefusalCode.INVALID, field="name", message=f"invalid name: {p}")
        for p in decisions.name_problems(command.name)
    ]
    if _SHA256_HEX.fullmatch(command.claimed_sha256) is None:
        message = f"invalid hash: claimed sha256 {command.claimed_sha256!r} is not 64 lowercase hex"
        return None, [
            *refusals,
            Refusal(code=RefusalCode.INVALID, field="claimedSha256", message=message),
        ]
    artifact_id = f"sha256:{command.claimed_sha256}"
    stored = await blobs.stat(artifact_id)
    if stored is None:
        message = f"missing: no blob is stored at {artifact_id}"
        return None, [
            *refusals,
            Refusal(code=RefusalCode.NOT_FOUND, field="claimedSha256", message=message),
        ]
    if stored.size != command.size_bytes:
        message = (
            f"size mismatch: {artifact_id} holds {stored.size} bytes, "
            f"the claim says {command.size_bytes}"
        )
        return None, [
            *refusals,
            Refusal(code=RefusalCode.INVALID, field="sizeBytes", message=message),
        ]
    actual = await blobs.verify(artifact_id)
    if actual != command.claimed_sha256:
        message = (
            f"hash mismatch: the bytes stored at {artifact_id} hash to sha256:{actual}; "
            "the store is corrupt or was tampered with"
        )
        refusals.append(Refusal(code=RefusalCode.INVALID, field="claimedSha256", message=message))
    return (None, refusals) if refusals else (stored, [])


def make_artifacts_worker(blobs: BlobStore) -> Worker:
    """The artifact-hashing worker, verifying claims against ``blobs``.

    Stateless: stored bytes never change, so a redelivered command re-verifies and
    reaches the same decision. Store failures propagate (retried when retriable,
    else dead-lettered) and are never mistaken for a refusal of the artifact.
    ``artifact.stored`` carries the store's own URI: the worker vouches only for
    what it verified, where it verified it.
    """

    async def handle(message: Message, ctx: Context) -> None:
        assert isinstance(message, RecordArtifact)  # the runtime checks ``accepts``
        stored, refusals = await check_claim(message, blobs)
        if stored is None:
            ctx.emit(
                ArtifactRejected,
                name=message.name,
                claimed_sha256=message.claimed_sha256,
                reason="; ".join(messages(refusals)),
                refusals=refusals,
            )
            return
        ctx.emit(
            ArtifactStored,
            artifact_id=stored.artifact_id,
            name=message.name,
            media_type=message.media_type,
            size_bytes=stored.size,
            blob_uri=stored.uri,
            git_commit=message.git_commit,
            run_config=message.run_config,
        )

    return Worker(
        name="artifacts",
        inputs=(ARTIFACT_COMMANDS,),
        outputs=(ARTIFACT_EVENTS,),
        accepts=(RecordArtifact,),
        handle=handle,
        description="re-hashes stored bytes and records artifacts whose claims they prove",
    )
