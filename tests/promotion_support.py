"""What promotion tests share: a signed manifest of a registered version, approver keys
and signed approvals, made with real keys and Covenant's own provenance code."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from pathlib import Path

from covenant.events.promotion import (
    ApprovePromotion,
    KeyCustody,
    ManifestSignature,
    ManifestSigned,
)
from covenant.events.registry import ModelRegistryEntry
from covenant.promotion import Approver, ApproverGroup, approval_message
from covenant.provenance import (
    build_predicate,
    build_statement,
    manifest_digest,
    sign_envelope,
    subjects_from_digests,
)
from covenant.signing import LocalKeySigner, Signer


async def signed_manifest(
    entry: ModelRegistryEntry,
    signer: Signer,
    *,
    custody: KeyCustody = KeyCustody.HSM,
    model_id: str | None = None,
) -> ManifestSigned:
    """``manifest.signed`` for ``entry``, signed by ``signer`` (``model_id`` overrides the
    one the statement names, to make a manifest of another version)."""
    predicate = build_predicate(
        model_id=model_id or entry.model_id,
        artifact_id=entry.artifact_id,
        registry_entry=entry.model_dump(mode="json"),
        lineage=entry.lineage.model_dump(mode="json"),
        run=None,
    )
    statement = build_statement(
        subjects_from_digests({"model.onnx": entry.artifact_id.removeprefix("sha256:")}),
        predicate,
    )
    envelope = await sign_envelope(statement, signer)
    signature = ManifestSignature(
        manifest_id=f"manifest-{uuid.uuid4().hex[:8]}",
        model_id=entry.model_id,
        signer_id=signer.key_id,
        custody=custody,
        public_key_pem=signer.public_key_pem().decode(),
        signature=envelope.signatures[0].sig,
        payload_sha256=manifest_digest(envelope),
        envelope=envelope.to_bytes().decode(),
    )
    return ManifestSigned.create(
        subject=f"model:{entry.model_id}",
        actor="kernel",
        producer="signing",
        signature=signature,
    )


def approvers(folder: Path, names: tuple[str, ...] = ("ann", "bob", "cy")) -> dict[str, Signer]:
    """One fresh Ed25519 key per approver, in ``folder``."""
    return {name: LocalKeySigner.generate(folder / f"{name}.pem") for name in names}


def group(keys: dict[str, Signer], required: int = 2) -> ApproverGroup:
    """The approvers group of ``keys``."""
    members = tuple(Approver(id=n, public_key_pem=s.public_key_pem()) for n, s in keys.items())
    return ApproverGroup(name="model-risk", required=required, members=members)


async def approval(
    signer: Signer,
    *,
    approver_id: str,
    promotion_id: str,
    model_id: str,
    request_digest: str,
    now: datetime,
    expires_in: timedelta = timedelta(hours=1),
    nonce: str | None = None,
) -> ApprovePromotion:
    """A ``promotion.approve`` signed by ``signer`` as ``approver_id``."""
    expires_at = now + expires_in
    nonce = nonce or uuid.uuid4().hex
    message = approval_message(
        promotion_id=promotion_id,
        request_digest=request_digest,
        approver_id=approver_id,
        expires_at=expires_at,
        nonce=nonce,
    )
    return ApprovePromotion.create(
        subject=f"model:{model_id}",
        actor=approver_id,
        producer="cli",
        promotion_id=promotion_id,
        model_id=model_id,
        approver_id=approver_id,
        key_id=signer.key_id,
        request_digest=request_digest,
        expires_at=expires_at,
        nonce=nonce,
        signature=await signer.sign(message),
    )
