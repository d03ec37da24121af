"""Promotion facts into rows: status changes and manifest signatures.

A status change (``model.promoted``, ``model.demoted``, ``model.deprecated``) is one
more row of the version's status history, keyed by its event id and inserted once;
the current status is the history's latest entry, derived when read, so it does not
matter whether the change or the registration is projected first. A manifest
signature is kept the same way; the latest is the ManifestSignature the registry
entry shows (``signerId``, ``signature``).
"""

from __future__ import annotations

from covenant.events.base import Message
from covenant.events.promotion import ManifestSigned, ModelDemoted, ModelDeprecated, ModelPromoted
from covenant.events.registry import ModelStatus
from covenant.store._schema import Tx, as_time


async def project_promotion(tx: Tx, message: Message) -> bool:
    """Write one promotion event's rows; False for a type this store does not keep."""
    if isinstance(message, ModelPromoted | ModelDemoted):
        await _status(tx, message, message.model_id, message.to_status)
    elif isinstance(message, ModelDeprecated):
        await _status(tx, message, message.model_id, ModelStatus.DEPRECATED)
    elif isinstance(message, ManifestSigned):
        signature = message.signature
        await tx.execute(
            "INSERT INTO model_signatures (model_id, event_id, manifest_id, signer_id,"
            " custody, signature, payload_sha256, signed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (model_id, event_id) DO NOTHING",
            signature.model_id,
            message.meta.event_id,
            signature.manifest_id,
            signature.signer_id,
            signature.custody.value,
            signature.signature,
            signature.payload_sha256,
            as_time(message.meta.occurred_at),
        )
    else:
        return False
    return True


async def _status(tx: Tx, event: Message, model_id: str, status: ModelStatus) -> None:
    await tx.execute(
        "INSERT INTO model_status_history (model_id, event_id, status, changed_at, actor)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (model_id, event_id) DO NOTHING",
        model_id,
        event.meta.event_id,
        status.value,
        as_time(event.meta.occurred_at),
        event.meta.actor,
    )
