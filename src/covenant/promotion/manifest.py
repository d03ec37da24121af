"""Whether a ``manifest.signed`` link really is a signed manifest of a registered version.

The link is an event, and events are not trusted for what they claim: the DSSE
envelope it carries is verified with its public key, the key id is derived from that
key rather than read, the payload digest and the raw signature must be the
envelope's own, and the signed statement must name this very version and artifact.
Only then do the signer's custody and the rest count. Pure: no I/O.
"""

from __future__ import annotations

from covenant.events.promotion import ManifestSignature
from covenant.events.registry import ModelRegistryEntry
from covenant.provenance import Envelope, ProvenanceError, manifest_digest, verify_envelope
from covenant.signing import SignatureError, key_id_for

__all__ = ["manifest_problem"]


def manifest_problem(signature: ManifestSignature, entry: ModelRegistryEntry) -> str | None:
    """Why ``signature`` is not a valid signed manifest of ``entry``, or None."""
    pem = signature.public_key_pem.encode()
    try:
        key_id = key_id_for(pem)
    except SignatureError as exc:
        return str(exc)
    if key_id != signature.signer_id:
        return f"the public key is {key_id}, not the signer {signature.signer_id} it claims"
    try:
        envelope = Envelope.from_bytes(signature.envelope)
        statement = verify_envelope(envelope, pem)
    except ProvenanceError as exc:
        return str(exc)
    if manifest_digest(envelope) != signature.payload_sha256:
        return "the payload digest does not match the envelope's payload"
    own = [s.sig for s in envelope.signatures if s.keyid == key_id]
    if signature.signature not in own:
        return "the signature is not the envelope's signature by that key"
    predicate = statement.predicate
    if predicate.get("modelId") != entry.model_id:
        return f"the manifest is of {predicate.get('modelId')!r}, not {entry.model_id}"
    if predicate.get("artifactId") != entry.artifact_id:
        return (
            f"the manifest covers artifact {predicate.get('artifactId')!r}, not the "
            f"registered {entry.artifact_id}"
        )
    return None
