"""Multisig approvals: what an approver signs, and whether an approval counts.

An approval is a command signed with the approver's own Ed25519 key, registered in
the approvers file, over :func:`approval_message`: a fixed type tag, the promotion
id, the digest of the promotion request, the approver, an expiry and a nonce. So a
signature cannot be lifted onto another request (the digest differs), outlive its
expiry, count for another approver (the id is signed), or be replayed (the nonce is
remembered for good). The bytes are canonical JSON (sorted keys, no spaces, UTF-8),
which any verifier can rebuild from the command's fields.

Everything here is pure: the worker passes in the clock's time and the nonces it has
seen.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from covenant.events.promotion import ApprovePromotion, Environment
from covenant.signing import SignatureError, key_id_for, verify_signature

__all__ = [
    "APPROVAL_TYPE",
    "Approver",
    "ApproverGroup",
    "approval_message",
    "approval_problem",
    "request_digest",
]

APPROVAL_TYPE = "https://covenant.dev/promotion-approval/v1"
"""The type tag inside every approval message: a signature over Covenant approval
bytes cannot be mistaken for a signature over anything else the key signs."""


def _canonical(document: Mapping[str, object]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def request_digest(
    *, promotion_id: str, model_id: str, target: Environment, payload_sha256: str | None
) -> str:
    """Hex SHA-256 of what is being approved: this promotion of this model to this
    environment, with the manifest it carries (so approvers approve what was signed)."""
    return hashlib.sha256(
        _canonical(
            {
                "promotion_id": promotion_id,
                "model_id": model_id,
                "target": target.value,
                "manifest_payload_sha256": payload_sha256,
            }
        )
    ).hexdigest()


def approval_message(
    *,
    promotion_id: str,
    request_digest: str,
    approver_id: str,
    expires_at: datetime,
    nonce: str,
) -> bytes:
    """The exact bytes an approver signs. ``expires_at`` must be timezone-aware; it is
    written as ISO 8601 in UTC so every verifier spells it the same way."""
    if expires_at.tzinfo is None:
        raise ValueError("expires_at must be timezone-aware")
    return _canonical(
        {
            "type": APPROVAL_TYPE,
            "promotion_id": promotion_id,
            "request_digest": request_digest,
            "approver_id": approver_id,
            "expires_at": _utc(expires_at),
            "nonce": nonce,
        }
    )


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Approver:
    """One person who may approve, with the public key their approvals verify under."""

    id: str
    public_key_pem: bytes

    @property
    def key_id(self) -> str:
        return key_id_for(self.public_key_pem)


@dataclass(frozen=True)
class ApproverGroup:
    """Who may approve a high-risk promotion, and how many distinct approvals it takes."""

    name: str
    required: int
    members: tuple[Approver, ...]

    def member(self, approver_id: str) -> Approver | None:
        return next((m for m in self.members if m.id == approver_id), None)

    @property
    def ids(self) -> list[str]:
        return [m.id for m in self.members]


def approval_problem(
    approval: ApprovePromotion,
    *,
    group: ApproverGroup,
    expected_digest: str,
    now: datetime,
    used_nonces: Collection[str],
    approved_by: Collection[str],
) -> str | None:
    """Why ``approval`` does not count, or None when it does.

    Checked in order of cheapness, the signature last: membership, key, digest,
    expiry, nonce, a second approval by the same person, then the signature itself.
    """
    member = group.member(approval.approver_id)
    if member is None:
        return (
            f"{approval.approver_id!r} is not in the approvers group {group.name!r} "
            f"(members: {', '.join(group.ids)})"
        )
    if approval.key_id != member.key_id:
        return (
            f"approval is signed with key {approval.key_id}, but {member.id}'s registered "
            f"key is {member.key_id}"
        )
    if approval.request_digest != expected_digest:
        return "approval is for another request (its request digest does not match)"
    if approval.expires_at <= now:
        return f"approval expired at {_utc(approval.expires_at)}"
    if approval.nonce in used_nonces:
        return f"nonce {approval.nonce!r} was already used: a replayed approval"
    if approval.approver_id in approved_by:
        return f"{approval.approver_id} has already approved; an approver counts once"
    message = approval_message(
        promotion_id=approval.promotion_id,
        request_digest=approval.request_digest,
        approver_id=approval.approver_id,
        expires_at=approval.expires_at,
        nonce=approval.nonce,
    )
    try:
        verify_signature(
            public_key_pem=member.public_key_pem, message=message, signature=approval.signature
        )
    except SignatureError:
        return f"signature does not verify under {member.id}'s key {member.key_id}: forged"
    return None
