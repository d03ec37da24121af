"""Inclusion and consistency proofs, as self-contained JSON documents.

A proof embeds the signed checkpoint it is proven against, so checking it needs the
proof and the audit public key and nothing else: no log, no export, no Covenant
installation beyond these functions (the JSON is plain enough to check by hand with any
RFC 9162 implementation: see ``covenant.audit.records`` for what a leaf commits to and
``covenant.events.audit.checkpoint_message`` for what a checkpoint signs).

* Inclusion: the record at ``leaf`` is leaf ``leaf.index`` of the tree of the *latest*
  checkpoint. The latest rather than the first covering one, because that is the head
  an auditor compares with, and one proof then also shows the record is still there.
* Consistency: the tree of checkpoint ``old`` is a prefix of the tree of checkpoint
  ``new``: nothing logged before ``old`` was changed or dropped by ``new``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from covenant.audit.merkle import ProofError, verify_consistency, verify_inclusion
from covenant.audit.records import (
    AuditError,
    Checkpoint,
    LeafEntry,
    digest_of,
)

__all__ = [
    "CONSISTENCY_FORMAT",
    "INCLUSION_FORMAT",
    "ConsistencyProof",
    "InclusionProof",
    "parse_proof",
    "verify_consistency_proof",
    "verify_inclusion_proof",
]

INCLUSION_FORMAT: Final = "covenant-inclusion-proof/1"
CONSISTENCY_FORMAT: Final = "covenant-consistency-proof/1"


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """Leaf ``leaf`` is in the tree that ``checkpoint`` signs."""

    leaf: LeafEntry
    audit_path: tuple[bytes, ...]
    checkpoint: Checkpoint

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form; bytes as lowercase hex."""
        leaf = self.leaf
        return {
            "format": INCLUSION_FORMAT,
            "leaf": {
                "index": leaf.index,
                "topic": leaf.topic,
                "partition": leaf.partition,
                "offset": leaf.offset,
                "digest": leaf.digest.hex(),
                "eventId": leaf.event_id,
            },
            "auditPath": [node.hex() for node in self.audit_path],
            "checkpoint": self.checkpoint.to_json(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InclusionProof:
        """Inverse of ``to_json``.

        Raises:
            AuditError: not an inclusion proof, or a field of the wrong shape.
        """
        _expect_format(data, INCLUSION_FORMAT)
        try:
            raw = data["leaf"]
            event_id = raw.get("eventId")
            leaf = LeafEntry(
                index=_int(raw["index"]),
                topic=str(raw["topic"]),
                partition=_int(raw["partition"]),
                offset=_int(raw["offset"]),
                digest=bytes.fromhex(raw["digest"]),
                event_id=None if event_id is None else str(event_id),
            )
            path = tuple(bytes.fromhex(node) for node in data["auditPath"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise AuditError(f"malformed inclusion proof: {exc!r}") from None
        return cls(leaf, path, Checkpoint.from_json(data["checkpoint"]))


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    """The tree of ``old`` is a prefix of the tree of ``new``."""

    old: Checkpoint
    new: Checkpoint
    proof: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form; bytes as lowercase hex."""
        return {
            "format": CONSISTENCY_FORMAT,
            "old": self.old.to_json(),
            "new": self.new.to_json(),
            "proof": [node.hex() for node in self.proof],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ConsistencyProof:
        """Inverse of ``to_json``.

        Raises:
            AuditError: not a consistency proof, or a field of the wrong shape.
        """
        _expect_format(data, CONSISTENCY_FORMAT)
        try:
            nodes = tuple(bytes.fromhex(node) for node in data["proof"])
            return cls(Checkpoint.from_json(data["old"]), Checkpoint.from_json(data["new"]), nodes)
        except (KeyError, TypeError, ValueError) as exc:
            raise AuditError(f"malformed consistency proof: {exc!r}") from None


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def _expect_format(data: Mapping[str, Any], wanted: str) -> None:
    if not isinstance(data, Mapping) or data.get("format") != wanted:
        found = data.get("format") if isinstance(data, Mapping) else type(data).__name__
        raise AuditError(f"not a {wanted} document (format {found!r})")


def parse_proof(document: str | bytes | Mapping[str, Any]) -> InclusionProof | ConsistencyProof:
    """Read a proof document of either kind.

    Raises:
        AuditError: not JSON, or not a proof this version knows.
    """
    if isinstance(document, str | bytes):
        try:
            document = json.loads(document)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise AuditError(f"proof is not JSON: {exc}") from None
    if not isinstance(document, Mapping):
        raise AuditError("proof must be a JSON object")
    if document.get("format") == CONSISTENCY_FORMAT:
        return ConsistencyProof.from_json(document)
    return InclusionProof.from_json(document)


def verify_inclusion_proof(
    proof: str | bytes | Mapping[str, Any] | InclusionProof,
    public_key_pem: bytes,
    *,
    value: bytes | None = None,
) -> InclusionProof:
    """Check an inclusion proof with the audit public key alone.

    Args:
        proof: the proof (JSON text, parsed JSON, or object).
        public_key_pem: the audit signer's public key.
        value: the record's bytes, to also check they are the ones the leaf commits to.

    Returns:
        The verified proof.

    Raises:
        AuditError: the checkpoint is not signed by that key, the path does not lead
            from the leaf to the signed root, or ``value`` does not match the leaf.
    """
    parsed = proof if isinstance(proof, InclusionProof) else parse_proof(proof)
    if not isinstance(parsed, InclusionProof):
        raise AuditError("this is a consistency proof, not an inclusion proof")
    parsed.checkpoint.verify(public_key_pem)
    try:
        verify_inclusion(
            leaf_hash=parsed.leaf.leaf_hash(),
            index=parsed.leaf.index,
            size=parsed.checkpoint.tree_size,
            proof=parsed.audit_path,
            root=parsed.checkpoint.root_hash,
        )
    except ProofError as exc:
        raise AuditError(f"inclusion proof does not verify: {exc}") from None
    if value is not None and digest_of(value) != parsed.leaf.digest:
        raise AuditError("the given record bytes are not the ones this leaf commits to")
    return parsed


def verify_consistency_proof(
    proof: str | bytes | Mapping[str, Any] | ConsistencyProof, public_key_pem: bytes
) -> ConsistencyProof:
    """Check a consistency proof with the audit public key alone.

    Raises:
        AuditError: either checkpoint is not signed by that key, or the proof does not
            show the old tree is a prefix of the new one.
    """
    parsed = proof if isinstance(proof, ConsistencyProof) else parse_proof(proof)
    if not isinstance(parsed, ConsistencyProof):
        raise AuditError("this is an inclusion proof, not a consistency proof")
    parsed.old.verify(public_key_pem)
    parsed.new.verify(public_key_pem)
    try:
        verify_consistency(
            old_size=parsed.old.tree_size,
            new_size=parsed.new.tree_size,
            old_root=parsed.old.root_hash,
            new_root=parsed.new.root_hash,
            proof=parsed.proof,
        )
    except ProofError as exc:
        raise AuditError(f"consistency proof does not verify: {exc}") from None
    return parsed
