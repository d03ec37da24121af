"""Model registration: ``model.register`` → ``model.registered`` or ``model.rejected``.

The registry is the single writer for model versions: it is keyed by model, keeps
what was registered in its state (rebuilt from the log), and so versions are
unique per family and immutable once registered without any lock service. New
versions start as ``draft``; promotion moves them on with events. Invalid requests
get every reason at once, so a caller fixes them in one round trip.
"""

from __future__ import annotations

import re

from covenant.events.artifacts import ArtifactRejected, ArtifactStored
from covenant.events.base import Message
from covenant.events.datasets import DatasetCleared, DatasetRegistered, DatasetRejected
from covenant.events.registry import (
    ModelRegistered,
    ModelRegistryEntry,
    ModelRejected,
    ModelStatus,
    RegisterModel,
)
from covenant.runtime.worker import Context, Worker
from covenant.semver import is_semver
from covenant.topics import ARTIFACT_EVENTS, DATASET_EVENTS, MODEL_COMMANDS, MODEL_EVENTS
from covenant.workers.catalog_state import CatalogState

_FAMILY = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")


def model_id(family: str, version: str) -> str:
    """The registry id of a version: ``family:version``."""
    return f"{family}:{version}"


def rejection_reasons(command: RegisterModel, state: CatalogState) -> list[str]:
    """Why the registration is invalid; empty when it is valid."""
    reasons = []
    if not _FAMILY.match(command.family):
        reasons.append(
            f"family {command.family!r} must be 1-100 of lowercase letters, digits, '.', '_', '-'"
        )
    if not is_semver(command.version):
        reasons.append(f"version {command.version!r} is not SemVer 2.0.0 (e.g. 1.0.0)")
    elif model_id(command.family, command.version) in state.models:
        reasons.append(
            f"{model_id(command.family, command.version)} is already registered and "
            "immutable; register a new version"
        )
    if not command.code_ref.strip():
        reasons.append("code_ref is empty; give the git URL and commit (repo#sha)")
    if (command.signer_id is None) != (command.signature is None):
        reasons.append("signer_id and signature come together or not at all")
    if command.artifact_id not in state.artifacts:
        reasons.append(
            f"artifact {command.artifact_id!r} is not stored; upload it first "
            "(covenant artifacts put)"
        )
    reasons.extend(
        f"lineage names unknown dataset {ref!r}"
        for ref in command.lineage.dataset_refs
        if ref not in state.datasets
    )
    reasons.extend(
        f"lineage names unknown parent model {ref!r}"
        for ref in command.lineage.parent_models
        if ref not in state.models
    )
    return reasons


def _register(command: RegisterModel, ctx: Context, state: CatalogState) -> None:
    key = command.meta.idempotency_key
    known = state.models.get(model_id(command.family, command.version), "")
    if key is not None and known == key:
        return  # a retry of a request already decided: nothing new to say
    rejected = rejection_reasons(command, state)
    if rejected:
        ctx.emit(ModelRejected, family=command.family, version=command.version, reasons=rejected)
        return
    ctx.emit(
        ModelRegistered,
        entry=ModelRegistryEntry(
            model_id=model_id(command.family, command.version),
            family=command.family,
            version=command.version,
            code_ref=command.code_ref,
            artifact_id=command.artifact_id,
            metrics=command.metrics,
            created_at=command.meta.occurred_at,
            created_by=command.meta.actor,
            status=ModelStatus.DRAFT,
            signer_id=command.signer_id,
            signature=command.signature,
            lineage=command.lineage,
            provenance=command.provenance,
        ),
    )


def make_registry_worker() -> Worker:
    """A fresh registry worker with its own state."""
    state = CatalogState()

    async def handle(message: Message, ctx: Context) -> None:
        if isinstance(message, RegisterModel):
            _register(message, ctx, state)
        # Dataset and artifact events only feed the state (the runtime folds them).

    return Worker(
        name="registry",
        # Facts first: on the embedded log a poll reads these in order from one
        # snapshot, so a command never overtakes the facts written before it.
        inputs=(DATASET_EVENTS, ARTIFACT_EVENTS, MODEL_COMMANDS),
        outputs=(MODEL_EVENTS,),
        accepts=(
            RegisterModel,
            DatasetRegistered,
            DatasetRejected,
            DatasetCleared,
            ArtifactStored,
            ArtifactRejected,
        ),
        handle=handle,
        description="registers model versions: unique, SemVer, lineage that exists",
        state=state,
    )
