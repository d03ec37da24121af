"""Builders for promotion commands and the signing records (``covenant.events.promotion``).

Every record is about one model version, so its subject is ``model:<model_id>``, as
the registry's are. The defaults line up: a promotion is ``promo-1`` of
``vit:1.0.0`` to staging, its manifest ``manifest_signature()`` (an HSM key), and
``approve_promotion()`` approves the ``request_digest`` ``promotion_pending()``
carries (``pending_digest``). The promotion worker's events are in
``promotion_events``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final, Unpack

from covenant.events import promotion as pro
from covenant.events.base import Command
from covenant.promotion.approvals import request_digest as _request_digest
from covenant.testing._builders._meta import PLATFORM_ACTOR, M, Meta, build, clock_of, sha
from covenant.testing._builders.registry import split_model_id

MODEL_ID: Final = "vit:1.0.0"
PROMOTION_ID: Final = "promo-1"
MANIFEST_ID: Final = "manifest-1"
SIGNER_ID: Final = "ed25519:00112233aabbccdd"
"""The manifest signer's key id (``ed25519:<16 hex>``)."""
APPROVER: Final = "bob@example.com"
APPROVER_KEY_ID: Final = "ed25519:0123456789abcdef"
SIGNATURE: Final = b"\x00" * 64
"""An Ed25519-sized signature; the builders do not sign anything."""
PUBLIC_KEY_PEM: Final = (
    "-----BEGIN PUBLIC KEY-----\n"
    "MCowBQYDK2VwAyEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
    "-----END PUBLIC KEY-----\n"
)

_WRITERS: Final = {"promotion.expire": "promotion-clock", "manifest.refused": "notary"}


def _payload(model_id: str) -> str:
    return sha(f"statement {model_id}").removeprefix("sha256:")


def pending_digest(
    promotion_id: str, model_id: str, target: pro.Environment, payload_sha256: str | None
) -> str:
    """The ``request_digest`` the promotion worker gives this promotion when its
    manifest's payload is ``payload_sha256`` (``manifest_signature(model_id)``'s if None)."""
    payload = payload_sha256 if payload_sha256 is not None else _payload(model_id)
    return _request_digest(
        promotion_id=promotion_id, model_id=model_id, target=target, payload_sha256=payload
    )


def model_record(cls: type[M], meta: Meta, model_id: str, **body: Any) -> M:
    """``build`` with the subject ``model:<model_id>`` and the type's writer."""
    split_model_id(model_id)  # a model id is family:version
    producer = _WRITERS.get(cls.TYPE, "gateway" if issubclass(cls, Command) else "promotion")
    return build(
        cls, meta, subject=f"model:{model_id}", producer=producer, model_id=model_id, **body
    )


def manifest_signature(
    model_id: str = MODEL_ID,
    *,
    manifest_id: str = MANIFEST_ID,
    signer_id: str = SIGNER_ID,
    custody: pro.KeyCustody = pro.KeyCustody.HSM,
    public_key_pem: str = PUBLIC_KEY_PEM,
    signature: bytes = SIGNATURE,
    payload_sha256: str | None = None,
    envelope: str = "{}",
    envelope_artifact_id: str | None = None,
    evaluation_id: str | None = None,
) -> pro.ManifestSignature:
    """A manifest's signature link, held in an HSM; ``payload_sha256`` defaults to
    the hex of ``sha("statement <model_id>")``. Nothing here is really signed."""
    return pro.ManifestSignature(
        manifest_id=manifest_id,
        model_id=model_id,
        signer_id=signer_id,
        custody=custody,
        public_key_pem=public_key_pem,
        signature=signature,
        payload_sha256=payload_sha256 if payload_sha256 is not None else _payload(model_id),
        envelope=envelope,
        envelope_artifact_id=envelope_artifact_id,
        evaluation_id=evaluation_id,
    )


def promotion_reason(
    check: pro.PromotionCheck = pro.PromotionCheck.SIGNATURE_MISSING, *, message: str | None = None
) -> pro.PromotionReason:
    """One reason a promotion is blocked: a missing signature unless told."""
    text = message if message is not None else f"the {check.value.replace('_', ' ')} check failed"
    return pro.PromotionReason(check=check, message=text)


def request_promotion(
    model_id: str = MODEL_ID,
    *,
    promotion_id: str = PROMOTION_ID,
    target: pro.Environment = pro.Environment.STAGING,
    region: str | None = None,
    reason: str = "",
    **meta: Unpack[Meta],
) -> pro.RequestPromotion:
    """A ``promotion.request`` command, as the gateway writes it: to staging."""
    return model_record(
        pro.RequestPromotion,
        meta,
        model_id,
        promotion_id=promotion_id,
        target=target,
        region=region,
        reason=reason,
    )


def approve_promotion(
    model_id: str = MODEL_ID,
    *,
    promotion_id: str = PROMOTION_ID,
    approver_id: str = APPROVER,
    key_id: str = APPROVER_KEY_ID,
    request_digest: str | None = None,
    payload_sha256: str | None = None,
    target: pro.Environment = pro.Environment.STAGING,
    expires_at: datetime | None = None,
    nonce: str = "nonce-1",
    signature: bytes = SIGNATURE,
    **meta: Unpack[Meta],
) -> pro.ApprovePromotion:
    """A ``promotion.approve`` command, as the gateway writes it for the approver (the
    default actor): ``request_digest`` is ``pending_digest`` of this promotion to
    ``target`` over ``payload_sha256``, as ``promotion_pending`` carries it; it expires
    an hour after the clock's now; the signature is zeros unless given (sign
    ``covenant.promotion.approvals.approval_message`` for one that verifies)."""
    return model_record(
        pro.ApprovePromotion,
        meta,
        model_id,
        actor=approver_id,
        promotion_id=promotion_id,
        approver_id=approver_id,
        key_id=key_id,
        request_digest=request_digest
        if request_digest is not None
        else pending_digest(promotion_id, model_id, target, payload_sha256),
        expires_at=expires_at
        if expires_at is not None
        else clock_of(meta).now() + timedelta(hours=1),
        nonce=nonce,
        signature=signature,
    )


def expire_promotion(
    model_id: str = MODEL_ID,
    *,
    promotion_id: str = PROMOTION_ID,
    waiting_for: str = "policy",
    timeout_s: float = 30.0,
    **meta: Unpack[Meta],
) -> pro.ExpirePromotion:
    """A ``promotion.expire`` command, as the promotion clock writes it (actor
    ``covenant``): the policy answer did not come within ``timeout_s``."""
    return model_record(
        pro.ExpirePromotion,
        meta,
        model_id,
        actor=PLATFORM_ACTOR,
        promotion_id=promotion_id,
        waiting_for=waiting_for,
        timeout_s=timeout_s,
    )


def deprecate_model(
    model_id: str = MODEL_ID, *, reason: str = "superseded", **meta: Unpack[Meta]
) -> pro.DeprecateModel:
    """A ``model.deprecate`` command, as the gateway writes it."""
    return model_record(pro.DeprecateModel, meta, model_id, reason=reason)


def demote_model(
    model_id: str = MODEL_ID,
    *,
    target: pro.Environment = pro.Environment.STAGING,
    reason: str = "rollback",
    **meta: Unpack[Meta],
) -> pro.DemoteModel:
    """A ``model.demote`` command, as the gateway writes it: back to staging."""
    return model_record(pro.DemoteModel, meta, model_id, target=target, reason=reason)


def sign_manifest(
    model_id: str = MODEL_ID, *, manifest_id: str = MANIFEST_ID, **meta: Unpack[Meta]
) -> pro.SignManifest:
    """A ``manifest.sign`` command, as the gateway writes it."""
    return model_record(pro.SignManifest, meta, model_id, manifest_id=manifest_id)


def manifest_signed(
    model_id: str = MODEL_ID,
    *,
    signature: pro.ManifestSignature | None = None,
    **meta: Unpack[Meta],
) -> pro.ManifestSigned:
    """A ``manifest.signed`` event, as the notary writes it: ``manifest_signature``."""
    split_model_id(model_id)
    link = signature if signature is not None else manifest_signature(model_id)
    return build(
        pro.ManifestSigned, meta, subject=f"model:{model_id}", producer="notary", signature=link
    )


def manifest_refused(
    model_id: str = MODEL_ID,
    *,
    manifest_id: str = MANIFEST_ID,
    reason: str | None = None,
    **meta: Unpack[Meta],
) -> pro.ManifestRefused:
    """A ``manifest.refused`` event, as the notary writes it: an unknown version."""
    why = reason if reason is not None else f"no model {model_id!r} is registered"
    return model_record(pro.ManifestRefused, meta, model_id, manifest_id=manifest_id, reason=why)
