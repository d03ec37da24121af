"""The offline provenance bundle: one JSON file that proves a model's promotion.

Everything an auditor needs, with nothing else: no log, no store, no network. Format
``covenant-provenance-bundle/1`` (one JSON object; unknown top-level fields are refused,
a new field is a new version)::

    {"format": "covenant-provenance-bundle/1",
     "envelope": {DSSE envelope of the manifest (covenant.provenance.envelope)},
     "signer": {"keyId": "ed25519:...", "publicKeyPem": "-----BEGIN PUBLIC KEY-----..."},
     "audit": {"keyId": "ed25519:...", "publicKeyPem": "..."},      null when no events
     "checkpoints": [signed audit checkpoints, as Checkpoint.to_json()],
     "events": [{"event": {the record decoded, as JSON},
                 "record": "<standard base64 of the record's exact value bytes>",
                 "proof": {a covenant-inclusion-proof/1 document}}]}

What :func:`verify_bundle` checks, stopping at the first failure:

1. The caller's ``public_key_pem`` is the manifest key: its id must be ``signer.keyId``
   and the envelope must verify under it (the bundle's own PEM copy is never trusted;
   it is there so a reader can see which key to obtain).
2. The statement is a valid in-toto statement of Covenant's predicate type; given model
   files must be exactly its subjects (watermarked ONNX copies are accepted when their
   watermark names this manifest and signer).
3. The audit key is trusted, in this order: the caller passed it
   (``audit_public_key_pem``; then the bundle's must be the same key), or the signed
   predicate vouches for it (``predicate.audit.keyId``, set by the promotion that
   signed the manifest), or it is the manifest key itself. Otherwise the bundle fails:
   proofs under a key nobody vouched for prove nothing.
4. Every checkpoint verifies under the audit key. Every event's record hashes to its
   proof's leaf, its proof leads to the root of its checkpoint, which must be one of
   the bundle's checkpoints, and its ``event`` JSON is exactly the record decoded (so
   what a reader sees is what the log holds), with the leaf's event id.

Checkpoints of different sizes are each proven signed; that they are consistent with
each other is not claimed (a consistency proof is ``covenant audit prove --consistency``).
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from covenant.audit.proofs import InclusionProof
from covenant.audit.records import Checkpoint
from covenant.events.codec import Codec
from covenant.events.contract import default_codec
from covenant.provenance._bundle_checks import (
    BundleEvent,
    checked_checkpoints,
    checked_events,
    event_json,
    section_pem,
    trusted_audit_key,
)
from covenant.provenance._errors import ProvenanceError
from covenant.provenance.envelope import Envelope, manifest_digest, verify_envelope
from covenant.provenance.files import verify_model_files
from covenant.provenance.predicate import PREDICATE_TYPE
from covenant.provenance.statement import Statement
from covenant.provenance.watermark import watermark_aware_digest
from covenant.signing import SignatureError, key_id_for

__all__ = ["BUNDLE_FORMAT", "BundleEvent", "BundleReport", "build_bundle", "verify_bundle"]

BUNDLE_FORMAT: Final = "covenant-provenance-bundle/1"
_FIELDS = {"format", "envelope", "signer", "audit", "checkpoints", "events"}


@dataclass(frozen=True, slots=True)
class BundleReport:
    """What a bundle proved."""

    statement: Statement
    model_id: str
    manifest_sha256: str
    signer_key_id: str
    audit_key_id: str | None
    audit_key_trusted_by: str | None
    checkpoints: tuple[Checkpoint, ...]
    events: tuple[BundleEvent, ...]
    files: Mapping[str, str]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready summary (for ``covenant verify bundle --json``)."""
        return {
            "ok": True,
            "modelId": self.model_id,
            "manifestSha256": self.manifest_sha256,
            "signerKeyId": self.signer_key_id,
            "auditKeyId": self.audit_key_id,
            "auditKeyTrustedBy": self.audit_key_trusted_by,
            "subjects": [s.to_json() for s in self.statement.subjects],
            "checkpoints": [
                {"treeSize": c.tree_size, "rootHash": c.root_hash.hex()} for c in self.checkpoints
            ],
            "events": [
                {
                    "eventId": e.event_id,
                    "type": e.type,
                    "subject": e.subject,
                    "leafIndex": e.leaf_index,
                    "treeSize": e.tree_size,
                }
                for e in self.events
            ],
            "files": dict(self.files),
        }


def _key(pem: bytes, what: str) -> dict[str, str]:
    try:
        return {"keyId": key_id_for(pem), "publicKeyPem": pem.decode("ascii")}
    except (SignatureError, UnicodeDecodeError) as exc:
        raise ProvenanceError(f"{what} public key cannot be used: {exc}") from None


def build_bundle(
    envelope: Envelope,
    *,
    signer_public_key_pem: bytes,
    events: Sequence[tuple[bytes, InclusionProof]] = (),
    audit_public_key_pem: bytes | None = None,
    codec: Codec | None = None,
) -> bytes:
    """Assemble a bundle (the promotion worker's step; nothing is verified here).

    Args:
        envelope: the signed manifest.
        signer_public_key_pem: the manifest signer's public key.
        events: each promotion event's exact record value bytes, with its inclusion
            proof (``covenant.audit.AuditTrail.prove_inclusion``).
        audit_public_key_pem: the audit checkpoint key; required with events.
        codec: decodes the events for their JSON form; default all Covenant types.

    Returns:
        The bundle as UTF-8 JSON bytes.

    Raises:
        ProvenanceError: events without an audit key, a key that cannot be used, or a
            record that does not decode.
    """
    if events and audit_public_key_pem is None:
        raise ProvenanceError("a bundle with events needs the audit public key")
    reader = codec or default_codec()
    checkpoints: dict[str, dict[str, Any]] = {}
    entries = []
    for value, proof in events:
        cp = proof.checkpoint.to_json()
        checkpoints.setdefault(json.dumps(cp, sort_keys=True), cp)
        entries.append(
            {
                "event": event_json(reader, value),
                "record": base64.b64encode(value).decode("ascii"),
                "proof": proof.to_json(),
            }
        )
    document = {
        "format": BUNDLE_FORMAT,
        "envelope": envelope.to_json(),
        "signer": _key(signer_public_key_pem, "manifest signer's"),
        "audit": None if audit_public_key_pem is None else _key(audit_public_key_pem, "audit"),
        "checkpoints": list(checkpoints.values()),
        "events": entries,
    }
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8")


def _load(bundle: bytes | str) -> dict[str, Any]:
    try:
        data = json.loads(bundle)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProvenanceError(f"bundle is not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != BUNDLE_FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise ProvenanceError(f"not a {BUNDLE_FORMAT} document (format {found!r})")
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise ProvenanceError(f"bundle has fields {BUNDLE_FORMAT} does not define: {unknown}")
    return data


def verify_bundle(
    bundle: bytes | str,
    public_key_pem: bytes,
    model_files: str | os.PathLike[str] | Mapping[str, str | os.PathLike[str]] | None = None,
    *,
    audit_public_key_pem: bytes | None = None,
    codec: Codec | None = None,
) -> BundleReport:
    """Check a bundle with nothing but itself and the trusted manifest key.

    Args:
        bundle: the bundle file's bytes.
        public_key_pem: the trusted manifest signer key.
        model_files: the model folder, or ``{name: path}``, to check against the
            subjects; None checks no files.
        audit_public_key_pem: the audit key, if the caller trusts one directly.
        codec: decodes the events; default all Covenant types.

    Returns:
        What was proven.

    Raises:
        ProvenanceError: the first check that failed (see the module docstring).
    """
    data = _load(bundle)
    try:
        trusted = key_id_for(public_key_pem)
    except SignatureError as exc:
        raise ProvenanceError(f"cannot use the manifest public key: {exc}") from None
    named, _ = section_pem(data.get("signer"), "manifest signer")
    if named != trusted:
        raise ProvenanceError(f"bundle was signed by key {named}, not the trusted key {trusted}")
    envelope = Envelope.from_json(data.get("envelope"))
    statement = verify_envelope(envelope, public_key_pem)
    if statement.predicate_type != PREDICATE_TYPE:
        raise ProvenanceError(f"bundle statement's predicateType is {statement.predicate_type}")
    files: Mapping[str, str] = {}
    if model_files is not None:
        digest = watermark_aware_digest(statement, envelope)
        files = verify_model_files(statement, model_files, digest=digest)
    audit = trusted_audit_key(data, statement, trusted, audit_public_key_pem)
    checkpoints: list[Checkpoint] = []
    events: list[BundleEvent] = []
    if audit is None:
        if data.get("events") or data.get("checkpoints"):
            raise ProvenanceError("bundle has events or checkpoints but no audit key")
    else:
        checkpoints = checked_checkpoints(data, audit[0], audit[1])
        events = checked_events(data, audit[0], checkpoints, codec or default_codec())
    return BundleReport(
        statement=statement,
        model_id=str(statement.predicate["modelId"]),
        manifest_sha256=manifest_digest(envelope),
        signer_key_id=trusted,
        audit_key_id=None if audit is None else audit[1],
        audit_key_trusted_by=None if audit is None else audit[2],
        checkpoints=tuple(checkpoints),
        events=tuple(events),
        files=files,
    )
