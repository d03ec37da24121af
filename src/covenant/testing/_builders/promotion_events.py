"""Builders for the promotion worker's events (``covenant.events.promotion``).

The same defaults as ``promotion``'s commands: ``promo-1`` of ``vit:1.0.0`` to
staging, subject ``model:<model_id>``, producer ``promotion``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Unpack

from covenant.events import promotion as pro
from covenant.events.registry import ModelStatus
from covenant.promotion.decisions import STATUS_OF
from covenant.testing._builders._meta import Meta
from covenant.testing._builders._meta import strings as _strings
from covenant.testing._builders.evaluation import EVAL_ID
from covenant.testing._builders.policy import POLICY_VERSION
from covenant.testing._builders.promotion import (
    APPROVER,
    APPROVER_KEY_ID,
    MODEL_ID,
    PROMOTION_ID,
    manifest_signature,
    model_record,
    pending_digest,
    promotion_reason,
)
from covenant.testing._builders.training_events import DECISION_ID

_BELOW: Final = {ModelStatus.STAGING: ModelStatus.DRAFT, ModelStatus.PROD: ModelStatus.STAGING}


def promotion_pending(
    model_id: str = MODEL_ID,
    *,
    promotion_id: str = PROMOTION_ID,
    target: pro.Environment = pro.Environment.STAGING,
    region: str | None = None,
    waiting_for: str = "policy",
    request_digest: str | None = None,
    payload_sha256: str | None = None,
    required_approvals: int = 0,
    approvers: Sequence[str] = (),
    approved_by: Sequence[str] = (),
    policy_decision_id: str | None = None,
    policy_version: str | None = None,
    **meta: Unpack[Meta],
) -> pro.PromotionPending:
    """A ``promotion.pending`` event, waiting for policy unless told; its
    ``request_digest`` is ``pending_digest`` (over ``manifest_signature(model_id)``'s
    payload unless ``payload_sha256`` is given), as ``approve_promotion``'s."""
    return model_record(
        pro.PromotionPending,
        meta,
        model_id,
        promotion_id=promotion_id,
        target=target,
        region=region,
        waiting_for=waiting_for,
        request_digest=request_digest
        if request_digest is not None
        else pending_digest(promotion_id, model_id, target, payload_sha256),
        required_approvals=required_approvals,
        approvers=_strings("approvers", approvers),
        approved_by=_strings("approved_by", approved_by),
        policy_decision_id=policy_decision_id,
        policy_version=policy_version,
    )


def approval_accepted(
    model_id: str = MODEL_ID,
    *,
    promotion_id: str = PROMOTION_ID,
    approver_id: str = APPROVER,
    key_id: str = APPROVER_KEY_ID,
    nonce: str = "nonce-1",
    **meta: Unpack[Meta],
) -> pro.ApprovalAccepted:
    """A ``promotion.approval_accepted`` event: ``approve_promotion()`` counted."""
    return model_record(
        pro.ApprovalAccepted,
        meta,
        model_id,
        promotion_id=promotion_id,
        approver_id=approver_id,
        key_id=key_id,
        nonce=nonce,
    )


def approval_refused(
    model_id: str = MODEL_ID,
    *,
    promotion_id: str = PROMOTION_ID,
    approver_id: str = APPROVER,
    nonce: str = "nonce-1",
    reason: str = "nonce 'nonce-1' was already used: a replayed approval",
    **meta: Unpack[Meta],
) -> pro.ApprovalRefused:
    """A ``promotion.approval_refused`` event: a replayed approval unless told."""
    return model_record(
        pro.ApprovalRefused,
        meta,
        model_id,
        promotion_id=promotion_id,
        approver_id=approver_id,
        nonce=nonce,
        reason=reason,
    )


def model_promoted(
    model_id: str = MODEL_ID,
    *,
    promotion_id: str = PROMOTION_ID,
    target: pro.Environment = pro.Environment.STAGING,
    from_status: ModelStatus | None = None,
    signature: pro.ManifestSignature | None = None,
    evaluation_id: str = EVAL_ID,
    policy_decision_id: str = DECISION_ID,
    policy_version: str = POLICY_VERSION,
    approved_by: Sequence[str] = (),
    **meta: Unpack[Meta],
) -> pro.ModelPromoted:
    """A ``model.promoted`` event: to ``target``'s status from the one below it,
    resting on ``signature`` (``manifest_signature(model_id)``), the evaluation and
    the policy decision (pass its ``meta.event_id`` to link them)."""
    to_status = STATUS_OF[target]
    link = signature if signature is not None else manifest_signature(model_id)
    return model_record(
        pro.ModelPromoted,
        meta,
        model_id,
        promotion_id=promotion_id,
        from_status=from_status
        if from_status is not None
        else _BELOW.get(to_status, ModelStatus.DRAFT),
        to_status=to_status,
        signer_id=link.signer_id,
        signature=link.signature,
        manifest_id=link.manifest_id,
        payload_sha256=link.payload_sha256,
        evaluation_id=evaluation_id,
        policy_decision_id=policy_decision_id,
        policy_version=policy_version,
        approved_by=_strings("approved_by", approved_by),
    )


def promotion_blocked(
    model_id: str = MODEL_ID,
    *,
    promotion_id: str = PROMOTION_ID,
    target: pro.Environment = pro.Environment.STAGING,
    reasons: Sequence[pro.PromotionReason] | None = None,
    **meta: Unpack[Meta],
) -> pro.PromotionBlocked:
    """A ``promotion.blocked`` event, with ``[promotion_reason()]`` unless told."""
    return model_record(
        pro.PromotionBlocked,
        meta,
        model_id,
        promotion_id=promotion_id,
        target=target,
        reasons=list(reasons) if reasons is not None else [promotion_reason()],
    )


def model_demoted(
    model_id: str = MODEL_ID,
    *,
    target: pro.Environment = pro.Environment.STAGING,
    from_status: ModelStatus = ModelStatus.PROD,
    reason: str = "rollback",
    **meta: Unpack[Meta],
) -> pro.ModelDemoted:
    """A ``model.demoted`` event: prod back to staging unless told."""
    return model_record(
        pro.ModelDemoted,
        meta,
        model_id,
        from_status=from_status,
        to_status=STATUS_OF[target],
        reason=reason,
    )


def model_deprecated(
    model_id: str = MODEL_ID,
    *,
    from_status: ModelStatus = ModelStatus.DRAFT,
    reason: str = "superseded",
    **meta: Unpack[Meta],
) -> pro.ModelDeprecated:
    """A ``model.deprecated`` event: a draft retired unless told."""
    return model_record(pro.ModelDeprecated, meta, model_id, from_status=from_status, reason=reason)


def lifecycle_refused(
    model_id: str = MODEL_ID,
    *,
    action: str = "deprecate",
    reason: str | None = None,
    **meta: Unpack[Meta],
) -> pro.LifecycleRefused:
    """A ``model.lifecycle_refused`` event: ``action`` (demote or deprecate) of an
    unregistered version unless told."""
    why = reason if reason is not None else f"no model {model_id!r} is registered"
    return model_record(pro.LifecycleRefused, meta, model_id, action=action, reason=why)
