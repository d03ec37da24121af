"""Builders for the model registry's command and events (``covenant.events.registry``).

A model is named by its registry id, ``family:version``, as everywhere else in
Covenant; an invalid family or version is built the same way
(``register_model("Bad Family!:1.0")``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Unpack

from covenant.events import registry as reg
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


def split_model_id(model_id: str) -> tuple[str, str]:
    """``(family, version)`` of ``family:version``, split at the last colon.

    Raises:
        ValueError: ``model_id`` has no colon.
    """
    family, colon, version = model_id.rpartition(":")
    if not colon:
        raise ValueError(f"a model id is family:version, got {model_id!r}")
    return family, version


def _code_ref(family: str, version: str, code_ref: str | None) -> str:
    return code_ref if code_ref is not None else f"git@example.com:{family}.git#{version}"


def _artifact_id(model_id: str, artifact_id: str | None) -> str:
    return artifact_id if artifact_id is not None else sha(f"weights {model_id}")


def _lineage(datasets: Sequence[str], parents: Sequence[str]) -> reg.ModelLineage:
    return reg.ModelLineage(
        dataset_refs=strings("datasets", datasets), parent_models=strings("parents", parents)
    )


def register_model(
    model_id: str = "vit:1.0.0",
    *,
    code_ref: str | None = None,
    artifact_id: str | None = None,
    datasets: Sequence[str] = (),
    parents: Sequence[str] = (),
    metrics: Mapping[str, float] | None = None,
    provenance: Mapping[str, str] | None = None,
    signer_id: str | None = None,
    signature: bytes | None = None,
    **meta: Unpack[Meta],
) -> reg.RegisterModel:
    """A ``model.register`` command, as the gateway writes it.

    ``code_ref`` defaults to ``git@example.com:<family>.git#<version>`` and
    ``artifact_id`` to ``sha("weights <model_id>")``, the id of
    ``artifact_stored("weights <model_id>")``; ``datasets`` and ``parents`` are the
    lineage (dataset ids and model ids).
    """
    family, version = split_model_id(model_id)
    return build(
        reg.RegisterModel,
        meta,
        subject=f"model:{model_id}",
        producer="gateway",
        family=family,
        version=version,
        code_ref=_code_ref(family, version, code_ref),
        artifact_id=_artifact_id(model_id, artifact_id),
        metrics=dict(metrics or {}),
        lineage=_lineage(datasets, parents),
        provenance=dict(provenance or {}),
        signer_id=signer_id,
        signature=signature,
    )


def model_registered(
    model_id: str = "vit:1.0.0",
    *,
    code_ref: str | None = None,
    artifact_id: str | None = None,
    datasets: Sequence[str] = (),
    parents: Sequence[str] = (),
    metrics: Mapping[str, float] | None = None,
    provenance: Mapping[str, str] | None = None,
    status: reg.ModelStatus = reg.ModelStatus.DRAFT,
    signer_id: str | None = None,
    signature: bytes | None = None,
    created_at: datetime | None = None,
    created_by: str | None = None,
    **meta: Unpack[Meta],
) -> reg.ModelRegistered:
    """A ``model.registered`` event, as the registry worker writes it: the same
    defaults as ``register_model``, status ``draft``, ``created_at`` the clock's now
    and ``created_by`` the actor."""
    family, version = split_model_id(model_id)
    entry = reg.ModelRegistryEntry(
        model_id=model_id,
        family=family,
        version=version,
        code_ref=_code_ref(family, version, code_ref),
        artifact_id=_artifact_id(model_id, artifact_id),
        metrics=dict(metrics or {}),
        created_at=created_at if created_at is not None else clock_of(meta).now(),
        created_by=created_by if created_by is not None else actor_of(meta),
        status=status,
        signer_id=signer_id,
        signature=signature,
        lineage=_lineage(datasets, parents),
        provenance=dict(provenance or {}),
    )
    return build(
        reg.ModelRegistered, meta, subject=f"model:{model_id}", producer="registry", entry=entry
    )


def model_rejected(
    model_id: str = "vit:1.0.0",
    *,
    reasons: Sequence[str] | None = None,
    refusals: Sequence[Refusal] | None = None,
    code: RefusalCode = RefusalCode.INVALID,
    **meta: Unpack[Meta],
) -> reg.ModelRejected:
    """A ``model.rejected`` event (see ``dataset_rejected`` for how ``reasons``,
    ``refusals`` and ``code`` combine); ``code=RefusalCode.CONFLICT`` is a version
    registered twice."""
    family, version = split_model_id(model_id)
    texts, why = refused(
        reasons=reasons,
        refusals=refusals,
        code=code,
        default=f"{model_id} was refused ({code.value})",
    )
    return build(
        reg.ModelRejected,
        meta,
        subject=f"model:{model_id}",
        producer="registry",
        family=family,
        version=version,
        reasons=texts,
        refusals=why,
    )
