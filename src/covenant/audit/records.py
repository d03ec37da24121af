"""What a leaf and a checkpoint are, as plain values shared by the worker, the
verifier, the exporter and the proofs.

The one rule everything here keeps: **a leaf's hash is** ``leaf_hash(leaf_bytes(topic,
partition, offset, digest))``, where ``leaf_bytes`` is the Avro binary encoding of those
four values (zig-zag varints and length-prefixed bytes, exactly as the first four fields
of ``covenant.audit.Leaf`` are encoded inside ``LeavesAppended``) and ``digest`` is
SHA-256 of the record's exact value bytes. Why not simply ``leaf_hash(value)``:

* the tree then commits to *where* each record is, so a record moved or two records
  swapped break the signed root, not just an unsigned index;
* the digest is all a proof needs, so proving one event never reveals another's bytes,
  and the tree can be rebuilt from the audit topic alone (the worker does, on start);
* the bytes are a slice of what ``LeavesAppended`` already carries, which lets the file
  verifier compare whole batches with one ``bytes`` comparison.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from covenant.audit.merkle import leaf_hash
from covenant.errors import AuditError, ContractError
from covenant.events.audit import CheckpointSigned, LeavesAppended, checkpoint_message
from covenant.events.base import Message
from covenant.events.codec import Codec
from covenant.events.contract import default_codec
from covenant.signing import SignatureError, key_id_for, verify_signature
from covenant.topics import AUDIT, Topic

__all__ = [
    "AUDIT_TYPES",
    "AuditBatch",
    "AuditError",
    "Checkpoint",
    "LeafEntry",
    "audit_codec",
    "audited_topics",
    "decode_audit",
    "digest_of",
    "event_id_of",
    "leaf_bytes",
    "zigzag",
]

AUDIT_TYPES: tuple[type[Message], ...] = (LeavesAppended, CheckpointSigned)


def audited_topics(topics: Sequence[Topic]) -> tuple[Topic, ...]:
    """Every topic but the audit topic itself, which holds the tree and is not in it."""
    return tuple(t for t in topics if t.name != AUDIT.name)


def zigzag(n: int) -> bytes:
    """Avro's zig-zag varint encoding of ``n`` (the ``long`` encoding)."""
    z = n << 1 if n >= 0 else ((-n) << 1) - 1
    out = bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def leaf_bytes(topic: str, partition: int, offset: int, digest: bytes) -> bytes:
    """The bytes a leaf commits to (see the module docstring)."""
    name = topic.encode()
    return (
        zigzag(len(name)) + name + zigzag(partition) + zigzag(offset) + zigzag(len(digest)) + digest
    )


def digest_of(value: bytes) -> bytes:
    """SHA-256 of a record's exact value bytes."""
    return hashlib.sha256(value).digest()


def event_id_of(codec: Codec, value: bytes) -> str | None:
    """``meta.eventId`` of a record that decodes under ``codec``, else None.

    Garbage is audited like anything else; it just has no event id to look it up by.
    """
    try:
        _, body = codec.decode_dict(value)
    except ContractError:
        return None
    meta = body.get("meta")
    if isinstance(meta, dict) and isinstance(meta.get("eventId"), str):
        return str(meta["eventId"])
    return None


def audit_codec(codec: Codec | None = None) -> Codec:
    """``codec`` if given, else a codec that reads and writes the audit records.

    Verification only ever decodes audit records (everything else is hashed as bytes),
    so this small codec is all an auditor needs.
    """
    return codec if codec is not None else default_codec(AUDIT_TYPES)


@dataclass(frozen=True, slots=True)
class LeafEntry:
    """One leaf, decoded: its tree index, the record's position, digest and event id."""

    index: int
    topic: str
    partition: int
    offset: int
    digest: bytes
    event_id: str | None

    def leaf_bytes(self) -> bytes:
        """What the tree commits to for this leaf."""
        return leaf_bytes(self.topic, self.partition, self.offset, self.digest)

    def leaf_hash(self) -> bytes:
        """The RFC 9162 leaf hash of this leaf."""
        return leaf_hash(self.leaf_bytes())

    def where(self) -> str:
        """``topic/partition@offset`` for messages."""
        return f"{self.topic}/{self.partition}@{self.offset}"


@dataclass(frozen=True, slots=True)
class AuditBatch:
    """A decoded ``LeavesAppended``."""

    first_leaf: int
    leaves: list[LeafEntry]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A decoded ``CheckpointSigned``: a signed tree head."""

    tree_size: int
    root_hash: bytes
    signed_at: datetime
    key_id: str
    algorithm: str
    signature: bytes

    def message(self) -> bytes:
        """The canonical text the signature covers."""
        return checkpoint_message(
            tree_size=self.tree_size,
            root_hash=self.root_hash,
            signed_at=self.signed_at,
            key_id=self.key_id,
        )

    def verify(self, public_key_pem: bytes, *, key_id: str | None = None) -> None:
        """Check that the trusted key signed this checkpoint.

        Args:
            public_key_pem: the audit signer's public key, the only thing trusted.
            key_id: ``key_id_for(public_key_pem)`` if the caller has it already.

        Raises:
            AuditError: another key signed it (the message names both ids), the
                algorithm is not Ed25519, or the signature does not verify.
        """
        trusted = key_id or key_id_for(public_key_pem)
        if self.key_id != trusted:
            raise AuditError(
                f"checkpoint at tree size {self.tree_size} names signing key {self.key_id}, "
                f"not the trusted audit key {trusted}"
            )
        if self.algorithm != "ed25519":
            raise AuditError(
                f"checkpoint at tree size {self.tree_size} uses algorithm {self.algorithm!r}; "
                "only ed25519 is accepted"
            )
        try:
            verify_signature(
                public_key_pem=public_key_pem, message=self.message(), signature=self.signature
            )
        except (SignatureError, ValueError) as exc:
            raise AuditError(f"checkpoint at tree size {self.tree_size}: {exc}") from None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form; bytes as lowercase hex, the time as ISO 8601 with microseconds."""
        return {
            "treeSize": self.tree_size,
            "rootHash": self.root_hash.hex(),
            "signedAt": self.signed_at.isoformat(),
            "keyId": self.key_id,
            "algorithm": self.algorithm,
            "signature": self.signature.hex(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Checkpoint:
        """Inverse of ``to_json``.

        Raises:
            AuditError: a field is missing or of the wrong shape.
        """
        try:
            signed_at = datetime.fromisoformat(str(data["signedAt"]))
            return cls(
                tree_size=_int(data["treeSize"], "treeSize"),
                root_hash=bytes.fromhex(str(data["rootHash"])),
                signed_at=signed_at,
                key_id=str(data["keyId"]),
                algorithm=str(data["algorithm"]),
                signature=bytes.fromhex(str(data["signature"])),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise AuditError(f"malformed checkpoint in JSON: {exc!r}") from None


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise AuditError(f"{what} must be an integer, got {value!r}")
    return value


def decode_audit(codec: Codec, value: bytes) -> AuditBatch | Checkpoint:
    """Decode one record of the audit topic into plain values.

    Uses ``decode_dict``, not the pydantic models: rebuilding a tree reads every leaf
    ever written, and validation would cost more than the hashing.

    Raises:
        AuditError: the bytes do not decode, or decode to something that is not an
            audit record.
    """
    try:
        model, body = codec.decode_dict(value)
    except ContractError as exc:
        raise AuditError(f"not a decodable audit record: {exc}") from None
    try:
        if model is LeavesAppended:
            first = _int(body["firstLeaf"], "firstLeaf")
            leaves = [
                LeafEntry(
                    first + i,
                    str(leaf["topic"]),
                    _int(leaf["partition"], "partition"),
                    _int(leaf["offset"], "offset"),
                    bytes(leaf["digest"]),
                    leaf["eventId"],
                )
                for i, leaf in enumerate(body["leaves"])
            ]
            return AuditBatch(first, leaves)
        if model is CheckpointSigned:
            return Checkpoint(
                tree_size=_int(body["treeSize"], "treeSize"),
                root_hash=bytes(body["rootHash"]),
                signed_at=body["signedAt"],
                key_id=str(body["keyId"]),
                algorithm=str(body["algorithm"]),
                signature=bytes(body["signature"]),
            )
    except (KeyError, TypeError) as exc:
        raise AuditError(f"audit record is missing a field: {exc!r}") from None
    name = model.TYPE if model is not None else "an unknown schema"
    raise AuditError(f"record on the audit topic is {name}, not an audit record")
