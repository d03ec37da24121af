"""The checks of ``covenant.provenance.bundle``, one per section of a bundle.

Split from ``bundle`` only to keep each module readable in one sitting; the module
docstring there says what is checked and why.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from covenant.audit.proofs import InclusionProof, verify_inclusion_proof
from covenant.audit.records import Checkpoint
from covenant.errors import AuditError, ContractError
from covenant.events.codec import Codec
from covenant.provenance._errors import ProvenanceError
from covenant.provenance.statement import Statement
from covenant.signing import SignatureError, key_id_for

__all__ = [
    "BundleEvent",
    "checked_checkpoints",
    "checked_events",
    "event_json",
    "section_pem",
    "trusted_audit_key",
]


@dataclass(frozen=True, slots=True)
class BundleEvent:
    """One verified event of a bundle.

    Attributes:
        event_id: ``meta.eventId`` (also the proven leaf's event id).
        type: ``meta.type``, e.g. ``model.registered``.
        subject: ``meta.subject``, the entity it is about (for a model: ``model:<model id>``);
            the bundle proves the event is logged, the caller judges its relevance.
        event: the record decoded, as JSON.
        leaf_index: its leaf in the audit tree.
        tree_size: the size of the checkpoint its proof is against.
    """

    event_id: str | None
    type: str | None
    subject: str | None
    event: Mapping[str, Any]
    leaf_index: int
    tree_size: int


def event_json(codec: Codec, value: bytes) -> dict[str, Any]:
    """The record decoded, as JSON (bytes as lowercase hex, times as ISO 8601)."""

    def default(item: Any) -> Any:
        if isinstance(item, bytes):
            return item.hex()
        if hasattr(item, "isoformat"):
            return item.isoformat()
        raise TypeError(f"cannot encode {type(item).__name__}")

    try:
        _, body = codec.decode_dict(value)
    except ContractError as exc:
        raise ProvenanceError(f"bundle event record does not decode: {exc}") from None
    result: dict[str, Any] = json.loads(json.dumps(body, default=default))
    return result


def section_pem(section: Any, what: str) -> tuple[str, bytes]:
    """The ``keyId`` label and PEM bytes of a ``signer``/``audit`` section (unchecked)."""
    if not isinstance(section, Mapping) or not isinstance(section.get("publicKeyPem"), str):
        raise ProvenanceError(f"bundle has no {what} public key")
    return str(section.get("keyId")), section["publicKeyPem"].encode("ascii", "replace")


def trusted_audit_key(
    data: Mapping[str, Any], statement: Statement, manifest_id: str, given: bytes | None
) -> tuple[bytes, str, str] | None:
    """The audit key, its id and why it is trusted (None: the bundle has no audit key)."""
    if data.get("audit") is None:
        return None
    named, pem = section_pem(data["audit"], "audit")
    try:
        audit_id = key_id_for(pem)
    except SignatureError as exc:
        raise ProvenanceError(f"bundle's audit public key cannot be used: {exc}") from None
    if audit_id != named:
        raise ProvenanceError(f"bundle's audit key is {audit_id}, but it is labelled {named}")
    vouched = statement.predicate.get("audit", {}).get("keyId")
    if given is not None:
        try:
            trusted = key_id_for(given)
        except SignatureError as exc:
            raise ProvenanceError(f"cannot use the given audit public key: {exc}") from None
        if audit_id != trusted:
            raise ProvenanceError(f"bundle's audit key {audit_id} is not the given {trusted}")
        return pem, audit_id, "caller"
    if vouched == audit_id:
        return pem, audit_id, "manifest"
    if audit_id == manifest_id:
        return pem, audit_id, "manifest-key"
    raise ProvenanceError(
        f"bundle's audit key {audit_id} is not vouched for: the signed manifest names "
        f"{vouched or 'no audit key'}; pass the audit public key to trust it"
    )


def checked_checkpoints(data: Mapping[str, Any], key: bytes, key_id: str) -> list[Checkpoint]:
    """Every checkpoint of the bundle, each verified under the trusted audit key."""
    raw = data.get("checkpoints")
    if not isinstance(raw, list):
        raise ProvenanceError("bundle has no checkpoints list")
    found = []
    for item in raw:
        try:
            checkpoint = Checkpoint.from_json(item)
            checkpoint.verify(key, key_id=key_id)
        except AuditError as exc:
            raise ProvenanceError(f"bundle checkpoint does not verify: {exc}") from None
        found.append(checkpoint)
    return found


def checked_events(
    data: Mapping[str, Any], key: bytes, checkpoints: list[Checkpoint], codec: Codec
) -> list[BundleEvent]:
    """Every event, proven: record bytes to leaf, leaf to a bundle checkpoint's root,
    and the event JSON equal to the record decoded (what a reader sees is what is proven)."""
    raw = data.get("events")
    if not isinstance(raw, list):
        raise ProvenanceError("bundle has no events list")
    known = [c.to_json() for c in checkpoints]
    verified = []
    for number, item in enumerate(raw):
        where = f"bundle event {number}"
        if not isinstance(item, Mapping) or not isinstance(item.get("record"), str):
            raise ProvenanceError(f"{where} has no record")
        try:
            value = base64.b64decode(item["record"].encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
            raise ProvenanceError(f"{where}: record is not valid base64: {exc}") from None
        try:
            proof = InclusionProof.from_json(item.get("proof") or {})
            if proof.checkpoint.to_json() not in known:
                raise ProvenanceError(
                    f"{where}: its proof is for a checkpoint (tree size "
                    f"{proof.checkpoint.tree_size}) that is not one of the bundle's"
                )
            verify_inclusion_proof(proof, key, value=value)
        except AuditError as exc:
            raise ProvenanceError(f"{where} is not proven in the audit trail: {exc}") from None
        event = event_json(codec, value)
        if item.get("event") != event:
            raise ProvenanceError(f"{where}: its event JSON is not the record it proves")
        raw_meta = event.get("meta")
        meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
        if meta.get("eventId") != proof.leaf.event_id:
            raise ProvenanceError(f"{where}: event id differs from the proven leaf's")
        verified.append(
            BundleEvent(
                proof.leaf.event_id,
                meta.get("type"),
                meta.get("subject"),
                event,
                proof.leaf.index,
                proof.checkpoint.tree_size,
            )
        )
    return verified
