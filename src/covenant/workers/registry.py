"""Model registration: turns ``model.register`` into ``model.registered``.

New versions start as ``draft``; promotion (a later capability) moves them on with
events. Invalid requests become ``model.rejected`` with every reason at once, so a
caller fixes them in one round trip.
"""

from __future__ import annotations

import re

from covenant.events.base import Message
from covenant.events.registry import (
    ModelRegistered,
    ModelRegistryEntry,
    ModelRejected,
    ModelStatus,
    RegisterModel,
)
from covenant.runtime.worker import Context, Worker
from covenant.semver import is_semver
from covenant.topics import MODEL_COMMANDS, MODEL_EVENTS

_FAMILY = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")


def model_id(family: str, version: str) -> str:
    """The registry id of a version: ``family:version``."""
    return f"{family}:{version}"


def rejection_reasons(command: RegisterModel) -> list[str]:
    """Why the registration is invalid; empty when it is valid."""
    reasons = []
    if not _FAMILY.match(command.family):
        reasons.append(
            f"family {command.family!r} must be 1-100 of lowercase letters, digits, '.', '_', '-'"
        )
    if not is_semver(command.version):
        reasons.append(f"version {command.version!r} is not SemVer 2.0.0 (e.g. 1.0.0)")
    if not command.code_ref.strip():
        reasons.append("code_ref is empty; give the git URL and commit (repo#sha)")
    if (command.signer_id is None) != (command.signature is None):
        reasons.append("signer_id and signature come together or not at all")
    return reasons


async def handle(message: Message, ctx: Context) -> None:
    assert isinstance(message, RegisterModel)  # the runtime checks ``accepts``
    rejected = rejection_reasons(message)
    if rejected:
        ctx.emit(ModelRejected, family=message.family, version=message.version, reasons=rejected)
        return
    ctx.emit(
        ModelRegistered,
        entry=ModelRegistryEntry(
            model_id=model_id(message.family, message.version),
            family=message.family,
            version=message.version,
            code_ref=message.code_ref,
            artifact_id=message.artifact_id,
            metrics=message.metrics,
            created_at=message.meta.occurred_at,
            created_by=message.meta.actor,
            status=ModelStatus.DRAFT,
            signer_id=message.signer_id,
            signature=message.signature,
            lineage=message.lineage,
            provenance=message.provenance,
        ),
    )


REGISTRY = Worker(
    name="registry",
    inputs=(MODEL_COMMANDS,),
    outputs=(MODEL_EVENTS,),
    accepts=(RegisterModel,),
    handle=handle,
    description="registers model versions (SemVer, draft status) with lineage",
)
