"""The audit topic in memory, and proving records and checkpoints from it.

``AuditTrail`` replays the audit topic (checking that it continues itself, as the audit
worker does on start) and keeps every leaf, so that any record can be proven:
inclusion against the latest checkpoint, consistency between two checkpoints. The
proofs it makes are the self-contained documents of ``covenant.audit.proofs``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from covenant.audit.merkle import MerkleTree
from covenant.audit.proofs import ConsistencyProof, InclusionProof
from covenant.audit.records import (
    AuditBatch,
    AuditError,
    Checkpoint,
    LeafEntry,
    audit_codec,
    decode_audit,
)
from covenant.audit.state import TreeState
from covenant.bus.protocol import Bus, Position
from covenant.events.codec import Codec
from covenant.topics import AUDIT

__all__ = ["AuditTrail", "Target", "load_trail", "prove_consistency", "prove_inclusion"]

Target = str | Position
"""What to prove: an event id, or a record's position on the log."""


@dataclass
class AuditTrail:
    """The audit topic in memory: the tree, its leaves and its checkpoints.

    Holds every leaf (about 150 bytes each) so that any record can be proven; build it
    with ``load_trail`` or ``AuditTrail.from_values``.
    """

    state: TreeState = field(default_factory=TreeState)
    leaves: list[LeafEntry] = field(default_factory=list)
    checkpoints: dict[int, Checkpoint] = field(default_factory=dict)
    latest: Checkpoint | None = None

    def add(self, item: AuditBatch | Checkpoint) -> None:
        """Replay one decoded audit record (continuity is checked, signatures are not:
        the proof's verifier checks the one signature that matters)."""
        self.state.apply(item)
        if isinstance(item, AuditBatch):
            self.leaves.extend(item.leaves)
        else:
            self.checkpoints[item.tree_size] = item
            self.latest = item

    @classmethod
    def from_values(cls, values: Iterable[bytes], codec: Codec | None = None) -> AuditTrail:
        """Build from the audit topic's record values, in offset order."""
        trail, decoder = cls(), audit_codec(codec)
        for value in values:
            trail.add(decode_audit(decoder, value))
        return trail

    @property
    def tree(self) -> MerkleTree:
        """The Merkle tree of every leaf so far."""
        return self.state.tree

    def find(self, target: Target) -> LeafEntry:
        """The leaf of an event id or of a record's position.

        Raises:
            AuditError: no leaf has it.
        """
        for leaf in self.leaves:
            if isinstance(target, str):
                if leaf.event_id == target:
                    return leaf
            elif (leaf.topic, leaf.partition, leaf.offset) == (
                target.topic,
                target.partition,
                target.offset,
            ):
                return leaf
        what = (
            target
            if isinstance(target, str)
            else f"{target.topic}/{target.partition}@{target.offset}"
        )
        raise AuditError(f"{what} is not in the audit tree (yet)")

    def prove_inclusion(self, target: Target) -> InclusionProof:
        """Prove ``target`` against the latest checkpoint.

        Raises:
            AuditError: unknown target, or no checkpoint covers its leaf yet.
        """
        leaf = self.find(target)
        latest = self.latest
        if latest is None or leaf.index >= latest.tree_size:
            covered = latest.tree_size if latest else 0
            raise AuditError(
                f"leaf {leaf.index} is not covered by a signed checkpoint yet (the latest "
                f"covers {covered} leaves); try again after the next checkpoint"
            )
        path = tuple(self.tree.inclusion_proof(leaf.index, latest.tree_size))
        return InclusionProof(leaf, path, latest)

    def prove_consistency(self, old_size: int, new_size: int) -> ConsistencyProof:
        """Prove that checkpoint ``old_size`` is a prefix of checkpoint ``new_size``.

        Raises:
            AuditError: no checkpoint at one of those exact sizes, or old > new.
        """
        for size in (old_size, new_size):
            if size not in self.checkpoints:
                known = ", ".join(str(s) for s in sorted(self.checkpoints)) or "none"
                raise AuditError(f"no checkpoint at tree size {size}; checkpoints: {known}")
        if old_size > new_size:
            raise AuditError(f"old size {old_size} is larger than new size {new_size}")
        proof = tuple(self.tree.consistency_proof(old_size, new_size))
        return ConsistencyProof(self.checkpoints[old_size], self.checkpoints[new_size], proof)


async def load_trail(bus: Bus, codec: Codec | None = None) -> AuditTrail:
    """Read the whole audit topic into an ``AuditTrail``.

    Raises:
        AuditError: the audit topic does not decode or does not continue itself.
    """
    trail, decoder = AuditTrail(), audit_codec(codec)
    await bus.ensure_topics([AUDIT])
    async for rec in bus.read([AUDIT]):
        trail.add(decode_audit(decoder, rec.value))
    return trail


async def prove_inclusion(
    bus: Bus, target: Target, *, codec: Codec | None = None
) -> InclusionProof:
    """Prove that the record ``target`` names is in the tree of the latest checkpoint.

    Raises:
        AuditError: unknown target, no checkpoint covers it yet, or the audit topic is
            inconsistent.
    """
    return (await load_trail(bus, codec)).prove_inclusion(target)


async def prove_consistency(
    bus: Bus, old_size: int, new_size: int, *, codec: Codec | None = None
) -> ConsistencyProof:
    """Prove that checkpoint ``old_size`` is a prefix of checkpoint ``new_size``.

    Raises:
        AuditError: no checkpoint at one of those sizes, or the audit topic is
            inconsistent.
    """
    return (await load_trail(bus, codec)).prove_consistency(old_size, new_size)
