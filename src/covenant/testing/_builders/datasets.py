"""Builders for the dataset commands and events (``covenant.events.datasets``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Unpack

from covenant.catalog.decisions import block_reasons as blocking_rules
from covenant.events import datasets as ds
from covenant.events.refusals import Refusal, RefusalCode
from covenant.testing._builders._meta import (
    Meta,
    actor_of,
    build,
    clock_of,
    refused,
    sha,
    strings,
)

LICENSE = "CC-BY-4.0"
APPROVAL_REASON = "PII reviewed"


def _subject(dataset_id: str) -> str:
    return f"dataset:{dataset_id}"


def _flags(pii: bool, pii_flags: Sequence[str]) -> list[str]:
    flags = strings("pii_flags", pii_flags)
    return flags or (["email"] if pii else [])


def transformation(
    name: str = "clean", *, code_ref: str | None = None, checksum: str | None = None
) -> ds.Transformation:
    """One step that derived a dataset: ``code_ref`` defaults to
    ``git@example.com:etl.git#<name>`` and ``checksum`` to ``sha(name)``."""
    return ds.Transformation(
        name=name,
        code_ref=code_ref if code_ref is not None else f"git@example.com:etl.git#{name}",
        checksum=checksum if checksum is not None else sha(name),
    )


def register_dataset(
    dataset_id: str = "d1",
    *,
    artifact_id: str | None = None,
    license: str = LICENSE,
    source_refs: Sequence[str] = (),
    transformations: Sequence[ds.Transformation] = (),
    pii: bool = False,
    pii_flags: Sequence[str] = (),
    provenance_review: ds.ProvenanceReview = ds.ProvenanceReview.PASSED,
    **meta: Unpack[Meta],
) -> ds.RegisterDataset:
    """A ``dataset.register`` command, as the gateway writes it.

    The defaults describe data the datasets worker allows for training once its bytes
    are stored: reviewed provenance, no PII, and ``artifact_id`` ``sha(dataset_id)``,
    which is ``artifact_stored(dataset_id)``'s id. ``pii=True`` flags ``email``
    (``pii_flags`` names others).
    """
    return build(
        ds.RegisterDataset,
        meta,
        subject=_subject(dataset_id),
        producer="gateway",
        dataset_id=dataset_id,
        artifact_id=artifact_id if artifact_id is not None else sha(dataset_id),
        source_refs=strings("source_refs", source_refs),
        transformations=list(transformations),
        license=license,
        pii_flags=_flags(pii, pii_flags),
        provenance_review=provenance_review,
    )


def dataset_registered(
    dataset_id: str = "d1",
    *,
    checksum: str | None = None,
    license: str = LICENSE,
    source_refs: Sequence[str] = (),
    transformations: Sequence[ds.Transformation] = (),
    pii: bool = False,
    pii_flags: Sequence[str] = (),
    provenance_review: ds.ProvenanceReview = ds.ProvenanceReview.PASSED,
    clearance: ds.TrainingClearance | None = None,
    block_reasons: Sequence[str] | None = None,
    created_at: datetime | None = None,
    created_by: str | None = None,
    **meta: Unpack[Meta],
) -> ds.DatasetRegistered:
    """A ``dataset.registered`` event, as the datasets worker writes it.

    ``block_reasons`` default to what the worker's own rule
    (``covenant.catalog.decisions.block_reasons``) says for ``pii``/``pii_flags`` and
    ``provenance_review``, and ``clearance`` to ``blocked`` exactly when there is a
    reason, so ``dataset_registered(pii=True)`` is the event the worker would write.
    ``created_at`` defaults to the clock's now, ``created_by`` to the actor.
    """
    flags = _flags(pii, pii_flags)
    if block_reasons is None:
        rules_input = ds.RegisterDataset.model_construct(
            pii_flags=flags, provenance_review=provenance_review
        )
        reasons = blocking_rules(rules_input)
    else:
        reasons = strings("block_reasons", block_reasons)
    if clearance is None:
        clearance = ds.TrainingClearance.BLOCKED if reasons else ds.TrainingClearance.ALLOWED
    lineage = ds.DatasetLineage(
        dataset_id=dataset_id,
        source_refs=strings("source_refs", source_refs),
        transformations=list(transformations),
        checksum=checksum if checksum is not None else sha(dataset_id),
        license=license,
        pii_flags=flags,
        created_at=created_at if created_at is not None else clock_of(meta).now(),
        created_by=created_by if created_by is not None else actor_of(meta),
    )
    return build(
        ds.DatasetRegistered,
        meta,
        subject=_subject(dataset_id),
        producer="datasets",
        lineage=lineage,
        clearance=clearance,
        block_reasons=reasons,
        provenance_review=provenance_review,
    )


def dataset_rejected(
    dataset_id: str = "d1",
    *,
    reasons: Sequence[str] | None = None,
    refusals: Sequence[Refusal] | None = None,
    code: RefusalCode = RefusalCode.INVALID,
    **meta: Unpack[Meta],
) -> ds.DatasetRejected:
    """A ``dataset.rejected`` event.

    Give ``reasons`` (each becomes a refusal with ``code``), or ``refusals`` (their
    messages become the reasons), or neither for one refusal with ``code``; both are
    taken as given, e.g. ``refusals=[]`` for an event from an older writer.
    """
    texts, why = refused(
        reasons=reasons,
        refusals=refusals,
        code=code,
        default=f"dataset {dataset_id!r} was refused ({code.value})",
    )
    return build(
        ds.DatasetRejected,
        meta,
        subject=_subject(dataset_id),
        producer="datasets",
        dataset_id=dataset_id,
        reasons=texts,
        refusals=why,
    )


def approve_dataset(
    dataset_id: str = "d1", *, reason: str = APPROVAL_REASON, **meta: Unpack[Meta]
) -> ds.ApproveDataset:
    """A ``dataset.approve`` command: clear a blocked dataset, the actor approving."""
    return build(
        ds.ApproveDataset,
        meta,
        subject=_subject(dataset_id),
        producer="gateway",
        dataset_id=dataset_id,
        reason=reason,
    )


def dataset_cleared(
    dataset_id: str = "d1",
    *,
    approved_by: str | None = None,
    reason: str = APPROVAL_REASON,
    **meta: Unpack[Meta],
) -> ds.DatasetCleared:
    """A ``dataset.cleared`` event; ``approved_by`` defaults to the actor, as the
    datasets worker sets it from the approving command."""
    return build(
        ds.DatasetCleared,
        meta,
        subject=_subject(dataset_id),
        producer="datasets",
        dataset_id=dataset_id,
        approved_by=approved_by if approved_by is not None else actor_of(meta),
        reason=reason,
    )
