"""The DSSE envelope that signs a statement, and checking one before trusting it.

DSSE (https://github.com/secure-systems-lab/dsse, ``envelope.md`` and ``protocol.md``)
signs bytes, not JSON: the signature covers the pre-authentication encoding::

    PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body

with ``LEN`` the byte length in ASCII decimal without leading zeros and ``SP`` one
space. The envelope is ``{"payloadType", "payload", "signatures": [{"keyid", "sig"}]}``
with ``payload`` and ``sig`` in standard base64 with padding (URL-safe is read too), ``payloadType``
``application/vnd.in-toto+json`` and ``payload`` the statement's RFC 8785 bytes.
``keyid`` is the Covenant key id (``covenant.signing.key_id_for``), so the same id
names the key in checkpoints, registry entries and envelopes.

:func:`verify_envelope` checks a signature before it looks at the payload: nothing in
an unverified payload is parsed, so a forged payload cannot exploit the parser or mislead
a caller that catches the error too late.

The **manifest digest** is SHA-256 of the payload bytes (the canonical statement), not
of the envelope: it names *what* was signed, so it is stable when a second signature is
added to the same envelope, and anyone can recompute it from the statement alone.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from covenant.provenance._errors import ProvenanceError
from covenant.provenance.statement import Statement
from covenant.signing import SignatureError, Signer, key_id_for, verify_signature

__all__ = [
    "PAYLOAD_TYPE",
    "Envelope",
    "EnvelopeSignature",
    "manifest_digest",
    "pae",
    "sign_envelope",
    "verify_envelope",
]

PAYLOAD_TYPE: Final = "application/vnd.in-toto+json"
_URLSAFE: Final = str.maketrans("-_", "+/")


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding of ``payload_type`` and ``payload``."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


def _b64decode(text: Any, what: str) -> bytes:
    """Strict base64 with padding: standard, or URL-safe, which DSSE also allows readers
    to meet (envelope.md: "Either standard or URL-safe encoding is allowed"), but not the
    two alphabets mixed. Covenant itself always writes standard base64."""
    if not isinstance(text, str):
        raise ProvenanceError(f"envelope {what} is not a base64 string")
    if ("-" in text or "_" in text) and ("+" in text or "/" in text):
        raise ProvenanceError(f"envelope {what} is not valid base64: mixed alphabets")
    try:
        return base64.b64decode(text.translate(_URLSAFE).encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise ProvenanceError(f"envelope {what} is not valid base64: {exc}") from None


@dataclass(frozen=True, slots=True)
class EnvelopeSignature:
    """One DSSE signature: the Covenant key id and the raw signature bytes."""

    keyid: str
    sig: bytes


@dataclass(frozen=True, slots=True)
class Envelope:
    """A DSSE envelope, decoded: the payload and signatures as raw bytes."""

    payload_type: str
    payload: bytes
    signatures: tuple[EnvelopeSignature, ...]

    def to_json(self) -> dict[str, Any]:
        """The DSSE JSON envelope."""
        return {
            "payloadType": self.payload_type,
            "payload": base64.b64encode(self.payload).decode("ascii"),
            "signatures": [
                {"keyid": s.keyid, "sig": base64.b64encode(s.sig).decode("ascii")}
                for s in self.signatures
            ],
        }

    def to_bytes(self) -> bytes:
        """The envelope as compact JSON bytes (what a ``.dsse.json`` file holds)."""
        return json.dumps(self.to_json(), separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_json(cls, data: Any) -> Envelope:
        """Decode an envelope's JSON form (nothing is verified yet).

        Raises:
            ProvenanceError: not an object, a missing field, or bad base64.
        """
        if not isinstance(data, Mapping):
            raise ProvenanceError("envelope is not a JSON object")
        payload_type = data.get("payloadType")
        if not isinstance(payload_type, str):
            raise ProvenanceError("envelope has no payloadType")
        payload = _b64decode(data.get("payload"), "payload")
        raw = data.get("signatures")
        if not isinstance(raw, list):
            raise ProvenanceError("envelope has no signatures list")
        signatures = []
        for item in raw:
            if not isinstance(item, Mapping):
                raise ProvenanceError("envelope signature is not an object")
            keyid = item.get("keyid", "")
            if not isinstance(keyid, str):
                raise ProvenanceError("envelope signature keyid is not a string")
            signatures.append(EnvelopeSignature(keyid, _b64decode(item.get("sig"), "sig")))
        return cls(payload_type, payload, tuple(signatures))

    @classmethod
    def from_bytes(cls, data: bytes | str) -> Envelope:
        """Decode an envelope from JSON text.

        Raises:
            ProvenanceError: not JSON, or see ``from_json``.
        """
        try:
            return cls.from_json(json.loads(data))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ProvenanceError(f"envelope is not JSON: {exc}") from None


def manifest_digest(envelope: Envelope) -> str:
    """Hex SHA-256 of the envelope's payload: the digest watermarks and bundles name."""
    return hashlib.sha256(envelope.payload).hexdigest()


async def sign_envelope(statement: Statement, signer: Signer) -> Envelope:
    """Sign ``statement`` into a DSSE envelope with one signature by ``signer``.

    Args:
        statement: the statement; its RFC 8785 bytes become the payload.
        signer: any ``Signer`` (local key, HSM, KMS); the keyid is its key id.

    Raises:
        ProvenanceError: the signer's key id is not the one its public key derives
            (a misconfigured signer would make envelopes nobody can match to a key).
    """
    payload = statement.canonical_bytes()
    try:
        derived = key_id_for(signer.public_key_pem())
    except SignatureError as exc:
        raise ProvenanceError(f"signer's public key cannot be used: {exc}") from None
    if derived != signer.key_id:
        raise ProvenanceError(
            f"signer reports key id {signer.key_id} but its public key is {derived}"
        )
    sig = await signer.sign(pae(PAYLOAD_TYPE, payload))
    return Envelope(PAYLOAD_TYPE, payload, (EnvelopeSignature(derived, sig),))


def verify_envelope(
    envelope: Envelope | Mapping[str, Any] | bytes | str,
    public_key_pem: bytes,
    *,
    accept_types: Sequence[str] = (PAYLOAD_TYPE,),
) -> Statement:
    """Check the envelope is signed by ``public_key_pem``'s key, then parse its statement.

    The signature whose keyid is the key's Covenant id must verify over PAE; signatures
    by other keys are ignored (DSSE allows several signers). Only then is the payload
    parsed.

    Args:
        envelope: the envelope (object, its JSON form, or JSON text).
        public_key_pem: the trusted manifest key (Ed25519, SubjectPublicKeyInfo PEM).
        accept_types: payload types to accept; in-toto's by default.

    Returns:
        The verified statement.

    Raises:
        ProvenanceError: wrong payloadType, bad base64 or JSON, the key is not a usable
            Ed25519 key, no signature names that key, the signature does not verify,
            or the verified payload is not a valid statement.
    """
    if isinstance(envelope, bytes | str):
        envelope = Envelope.from_bytes(envelope)
    elif not isinstance(envelope, Envelope):
        envelope = Envelope.from_json(envelope)
    if envelope.payload_type not in accept_types:
        raise ProvenanceError(
            f"envelope payloadType is {envelope.payload_type!r}, not {accept_types[0]!r}"
        )
    try:
        key_id = key_id_for(public_key_pem)
    except SignatureError as exc:
        raise ProvenanceError(f"cannot use the manifest public key: {exc}") from None
    mine = [s for s in envelope.signatures if s.keyid == key_id]
    if not mine:
        named = ", ".join(sorted({s.keyid or "(none)" for s in envelope.signatures})) or "none"
        raise ProvenanceError(f"envelope has no signature by key {key_id} (signed by: {named})")
    message = pae(envelope.payload_type, envelope.payload)
    errors = []
    for signature in mine:
        try:
            verify_signature(
                public_key_pem=public_key_pem, message=message, signature=signature.sig
            )
        except SignatureError as exc:
            errors.append(str(exc))
            continue
        return Statement.from_bytes(envelope.payload)
    raise ProvenanceError(f"envelope signature does not verify: {errors[0]}")
