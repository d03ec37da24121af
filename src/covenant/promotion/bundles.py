"""A version's offline provenance bundle, assembled from the log and the audit trail.

The manifest (the latest ``manifest.signed`` of the version: DSSE envelope, signer
key) and every promotion event about the version (signature, pending, approvals,
promotions, blocks, demotions), each with its inclusion proof against the latest
signed audit checkpoint, go into one file that ``covenant verify bundle`` checks with
nothing else (:mod:`covenant.provenance.bundle`). The events are the exact record
bytes on the log, so the proofs are over what was written, not over a re-encoding.
"""

from __future__ import annotations

from covenant.audit.trail import load_trail
from covenant.bus import closing
from covenant.bus.protocol import Bus
from covenant.errors import CovenantError
from covenant.events.base import Message
from covenant.events.codec import Codec
from covenant.events.promotion import (
    ApprovalAccepted,
    ManifestSigned,
    ModelDemoted,
    ModelDeprecated,
    ModelPromoted,
    PromotionBlocked,
    PromotionPending,
)
from covenant.provenance import Envelope, build_bundle
from covenant.topics import PROMOTION_EVENTS

__all__ = ["BundleUnavailableError", "provenance_bundle"]

_KEPT = (
    ManifestSigned,
    PromotionPending,
    ApprovalAccepted,
    ModelPromoted,
    PromotionBlocked,
    ModelDemoted,
    ModelDeprecated,
)


class BundleUnavailableError(CovenantError):
    """No bundle can be made yet: the version has no signed manifest, or the audit
    trail has no checkpoint covering its events (the message says which)."""


def _about(message: Message, model_id: str) -> bool:
    if isinstance(message, ManifestSigned):
        return message.signature.model_id == model_id
    return isinstance(message, _KEPT) and getattr(message, "model_id", None) == model_id


async def provenance_bundle(
    bus: Bus, model_id: str, *, audit_public_key_pem: bytes, codec: Codec
) -> bytes:
    """The bundle of ``model_id`` as of now.

    Raises:
        BundleUnavailableError: no signed manifest, or an event not yet covered by a
            signed audit checkpoint (wait for the next one and ask again).
        AuditError: the audit topic does not hold together.
    """
    found: list[tuple[bytes, Message]] = []
    async with closing(bus.read([PROMOTION_EVENTS], follow=False)) as records:
        async for record in records:
            message = codec.decode(record.value)
            if _about(message, model_id):
                found.append((record.value, message))
    signed = [m for _, m in found if isinstance(m, ManifestSigned)]
    if not signed:
        raise BundleUnavailableError(
            f"{model_id} has no signed manifest; sign it first (covenant models sign)"
        )
    latest = max(signed, key=lambda m: (m.meta.occurred_at, m.meta.event_id)).signature
    trail = await load_trail(bus, codec)
    events = []
    for value, message in found:
        try:
            events.append((value, trail.prove_inclusion(message.meta.event_id)))
        except CovenantError as exc:
            raise BundleUnavailableError(
                f"{message.meta.type} {message.meta.event_id} is not covered by a signed "
                f"audit checkpoint yet ({exc}); wait for the next checkpoint and try again"
            ) from None
    return build_bundle(
        Envelope.from_bytes(latest.envelope),
        signer_public_key_pem=latest.public_key_pem.encode(),
        events=events,
        audit_public_key_pem=audit_public_key_pem,
        codec=codec,
    )
