"""Response documents of the promotion routes."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from covenant.events.promotion import PromotionCheck
from covenant.events.registry import ModelStatus
from covenant.gateway.documents import ArtifactDoc, Document, _base64
from covenant.gateway.promotions import PromotionView

__all__ = ["ArtifactProvenanceDoc", "PromotionAcceptedDoc", "PromotionDoc", "SignedProvenanceDoc"]


class ReasonDoc(Document):
    """One reason a promotion is blocked."""

    check: PromotionCheck
    message: str


class RefusedApprovalDoc(Document):
    """An approval that did not count."""

    approver_id: str
    reason: str


class PromotedDoc(Document):
    """What the promotion rested on: the signature link and the decisions."""

    from_status: ModelStatus
    to_status: ModelStatus
    signer_id: str
    signature: str = Field(description="base64 of the DSSE signature")
    manifest_id: str
    payload_sha256: str
    evaluation_id: str
    policy_decision_id: str
    policy_version: str
    approved_by: list[str]


class PromotionDoc(Document):
    """One promotion: pending (with who has approved and who may still), blocked with
    every reason, or promoted."""

    promotion_id: str
    model_id: str
    target: str
    status: str = Field(description="pending, blocked or promoted")
    waiting_for: str | None = Field(default=None, description="policy or approvals")
    request_digest: str | None = Field(
        default=None, description="what approvers sign (with an expiry and a nonce)"
    )
    required_approvals: int = 0
    approvers: list[str] = Field(default_factory=list)
    approved_by: list[str] = Field(default_factory=list)
    may_still_approve: list[str] = Field(default_factory=list)
    reasons: list[ReasonDoc] = Field(default_factory=list)
    promoted: PromotedDoc | None = None
    refused_approvals: list[RefusedApprovalDoc] = Field(default_factory=list)

    @classmethod
    def of(cls, view: PromotionView) -> PromotionDoc:
        pending = view.pending
        promoted = view.promoted
        approved = (
            list(promoted.approved_by) if promoted else list(pending.approved_by) if pending else []
        )
        first = view.first
        digest = pending.request_digest if pending else getattr(first, "request_digest", None)
        return cls(
            promotion_id=view.promotion_id,
            model_id=view.model_id,
            target=view.target,
            status=view.status,
            waiting_for=pending.waiting_for if pending else None,
            request_digest=digest,
            required_approvals=pending.required_approvals if pending else 0,
            approvers=list(pending.approvers) if pending else [],
            approved_by=approved,
            may_still_approve=[a for a in pending.approvers if a not in approved]
            if pending
            else [],
            reasons=[ReasonDoc(check=r.check, message=r.message) for r in view.blocked.reasons]
            if view.blocked
            else [],
            promoted=None
            if promoted is None
            else PromotedDoc(
                from_status=promoted.from_status,
                to_status=promoted.to_status,
                signer_id=promoted.signer_id,
                signature=_base64(promoted.signature) or "",
                manifest_id=promoted.manifest_id,
                payload_sha256=promoted.payload_sha256,
                evaluation_id=promoted.evaluation_id,
                policy_decision_id=promoted.policy_decision_id,
                policy_version=promoted.policy_version,
                approved_by=list(promoted.approved_by),
            ),
            refused_approvals=[
                RefusedApprovalDoc(approver_id=r.approver_id, reason=r.reason) for r in view.refused
            ],
        )


class PromotionAcceptedDoc(Document):
    """A promotion request published; read the promotion for its outcome."""

    promotion_id: str
    command_id: str
    promotion_url: str


class SignedProvenanceDoc(Document):
    """A model version's signed manifest: verify ``envelope`` with ``publicKeyPem``."""

    model_id: str
    manifest_id: str
    signer_id: str
    custody: str
    public_key_pem: str
    payload_sha256: str
    envelope: dict[str, Any] = Field(description="the DSSE envelope (in-toto Statement v1)")


class ArtifactProvenanceDoc(ArtifactDoc):
    """An artifact's metadata, with the signed manifest of every version it is."""

    provenance: list[SignedProvenanceDoc] = Field(
        default_factory=list,
        description="the signed manifest (DSSE) of every model version these bytes are",
    )
