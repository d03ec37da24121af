"""Signed human decisions on drift: approving a retrain, signing a quarantine off.

The same construction as a promotion approval (:mod:`covenant.promotion.approvals`):
an approver from the approvers file signs canonical JSON with their own Ed25519 key,
over a type tag, the id of what they decide on, the digest of its request, their id,
an expiry and a nonce. The tag differs from a promotion approval's, so a signature
made to promote cannot release a quarantine or start a retrain, and vice versa.
Pure: the worker passes in the clock's time and the nonces it has seen.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from datetime import UTC, datetime

from covenant.events.drift import RetrainRequest, SignedDecision
from covenant.promotion.approvals import ApproverGroup
from covenant.signing import SignatureError, verify_signature

__all__ = [
    "SIGNOFF_TYPE",
    "decision_problem",
    "quarantine_digest",
    "retrain_digest",
    "signoff_message",
]

SIGNOFF_TYPE = "https://covenant.dev/drift-signoff/v1"


def _canonical(document: Mapping[str, object]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def retrain_digest(proposal_id: str, request: RetrainRequest) -> str:
    """Hex SHA-256 of the proposal and the exact training request it would submit."""
    body = request.model_dump(mode="json", by_alias=True)
    return hashlib.sha256(_canonical({"proposal_id": proposal_id, "request": body})).hexdigest()


def quarantine_digest(quarantine_id: str, model_id: str, alert_id: str) -> str:
    """Hex SHA-256 of the quarantine being released: which model, for which alert."""
    document = {"quarantine_id": quarantine_id, "model_id": model_id, "alert_id": alert_id}
    return hashlib.sha256(_canonical(document)).hexdigest()


def signoff_message(
    *, subject_id: str, request_digest: str, approver_id: str, expires_at: datetime, nonce: str
) -> bytes:
    """The exact bytes an approver signs (``expires_at`` timezone-aware, written in UTC)."""
    if expires_at.tzinfo is None:
        raise ValueError("expires_at must be timezone-aware")
    return _canonical(
        {
            "type": SIGNOFF_TYPE,
            "subject_id": subject_id,
            "request_digest": request_digest,
            "approver_id": approver_id,
            "expires_at": expires_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "nonce": nonce,
        }
    )


def decision_problem(
    decision: SignedDecision,
    *,
    subject_id: str,
    group: ApproverGroup,
    expected_digest: str,
    now: datetime,
    used_nonces: Collection[str],
    decided_by: Collection[str],
) -> str | None:
    """Why ``decision`` does not count, or None when it does (the signature checked last)."""
    member = group.member(decision.approver_id)
    if member is None:
        members = ", ".join(group.ids) or "none configured"
        return f"{decision.approver_id!r} is not in the approvers group (members: {members})"
    if decision.key_id != member.key_id:
        return f"signed with key {decision.key_id}, but {member.id}'s key is {member.key_id}"
    if decision.request_digest != expected_digest:
        return "the decision is for another request (its request digest does not match)"
    if decision.expires_at <= now:
        return "the decision has expired"
    if decision.nonce in used_nonces:
        return f"nonce {decision.nonce!r} was already used: a replayed decision"
    if decision.approver_id in decided_by:
        return f"{decision.approver_id} has already signed; an approver counts once"
    message = signoff_message(
        subject_id=subject_id,
        request_digest=decision.request_digest,
        approver_id=decision.approver_id,
        expires_at=decision.expires_at,
        nonce=decision.nonce,
    )
    try:
        verify_signature(
            public_key_pem=member.public_key_pem, message=message, signature=decision.signature
        )
    except SignatureError:
        return f"signature does not verify under {member.id}'s key {member.key_id}: forged"
    return None
