"""The audit trail's own records: the leaf order and the signed checkpoints.

The audit worker folds every record of every other topic into one append-only RFC 9162
Merkle tree (``covenant.audit.merkle``) and publishes, on the ``AUDIT`` topic, what it
folded (``LeavesAppended``) and, now and then, a signature over the tree's head
(``CheckpointSigned``). Those two records are the whole state of the tree: the worker
rebuilds it from them after a restart, and an auditor rebuilds it from them with nothing
but the public key.

What a leaf commits to is the Avro binary encoding of the leaf's first four fields,
``topic``, ``partition``, ``offset`` and ``digest`` (see ``covenant.audit.records.
leaf_bytes``): the position is inside the signed tree, so moving a record to another
offset, or swapping two, breaks the root, not just a lookup table. ``event_id`` is a
convenience for finding a record's leaf and is deliberately left out of the commitment:
it is derived from the record's bytes, which the digest already commits to.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import ClassVar

from pydantic import Field

from covenant.events.base import Event, Record
from covenant.topics import AUDIT

__all__ = [
    "AUDIT_SUBJECT",
    "CHECKPOINT_FORMAT",
    "CheckpointSigned",
    "Leaf",
    "LeavesAppended",
    "checkpoint_message",
    "epoch_micros",
]

AUDIT_SUBJECT = "audit"
"""``meta.subject`` (and so the key) of every audit record: one tree, one entity."""

CHECKPOINT_FORMAT = b"covenant-checkpoint/v1"
"""First line of the signed checkpoint text; a new layout gets a new version."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Leaf(Record):
    """One record folded into the tree: where it is on the log and what its bytes hash to."""

    NAMESPACE: ClassVar[str] = "covenant.audit"

    topic: str = Field(description="topic of the audited record")
    partition: int = Field(description="partition of the audited record")
    offset: int = Field(description="offset of the audited record in its partition")
    digest: bytes = Field(description="SHA-256 of the record's exact value bytes")
    event_id: str | None = Field(
        default=None, description="the record's meta.eventId when it decodes; null for garbage"
    )


class LeavesAppended(Event, type="audit.leaves_appended", topic=AUDIT):
    """The records one audit batch folded into the tree, in tree order.

    Leaves are numbered from 0 across the whole tree; this batch holds leaves
    ``first_leaf`` .. ``first_leaf + len(leaves) - 1``.
    """

    first_leaf: int = Field(description="tree index of the first leaf of this batch")
    leaves: list[Leaf]


class CheckpointSigned(Event, type="audit.checkpoint_signed", topic=AUDIT):
    """A signed tree head: the tree had ``tree_size`` leaves and this root.

    The signature is over ``checkpoint_message(...)``, a canonical text, never over Avro
    bytes, so that a verifier in any language can rebuild the signed bytes from the four
    values alone.
    """

    tree_size: int = Field(description="number of leaves the root covers")
    root_hash: bytes = Field(description="RFC 9162 root hash (SHA-256) of those leaves")
    signed_at: datetime = Field(description="when the checkpoint was signed, UTC")
    key_id: str = Field(description="id of the signing key, e.g. ed25519:0123456789abcdef")
    algorithm: str = Field(description="signature algorithm, e.g. ed25519")
    signature: bytes = Field(description="signature over the canonical checkpoint text")


def epoch_micros(moment: datetime) -> int:
    """Whole microseconds since the Unix epoch: the exact value Avro's
    ``timestamp-micros`` stores, computed without floating point.

    Raises:
        ValueError: ``moment`` is naive; a checkpoint time must name its zone.
    """
    if moment.tzinfo is None:
        raise ValueError("checkpoint times must be timezone-aware (UTC)")
    return (moment - _EPOCH) // timedelta(microseconds=1)


def checkpoint_message(
    *, tree_size: int, root_hash: bytes, signed_at: datetime, key_id: str
) -> bytes:
    """The exact bytes a checkpoint signature covers.

    ``covenant-checkpoint/v1``, the tree size, the root in lowercase hex, ``signed_at``
    as integer microseconds since the epoch and the key id, one per line, each line
    ending in ``\\n``. Plain text so that it is unambiguous (no field can contain a
    newline: sizes are integers, the root is hex, key ids are ``alg:hex``) and easy to
    rebuild outside Python. The key id is inside the signed text so that a signature
    cannot be re-labelled as made by another key.

    Raises:
        ValueError: a value that would make the text ambiguous (negative size, a key id
            with a line break, a naive datetime).
    """
    if tree_size < 0:
        raise ValueError(f"tree size must be non-negative, got {tree_size}")
    if "\n" in key_id or "\r" in key_id:
        raise ValueError("a key id cannot contain a line break")
    lines = (
        CHECKPOINT_FORMAT,
        str(tree_size).encode(),
        root_hash.hex().encode(),
        str(epoch_micros(signed_at)).encode(),
        key_id.encode(),
    )
    return b"\n".join(lines) + b"\n"
