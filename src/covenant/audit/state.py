"""The audit tree's state and how one polled batch grows it — no bus in sight.

``audit_batch`` is the whole decision the audit worker makes for a batch: which records
become leaves, the one ``LeavesAppended`` that publishes them, and whether a signed
checkpoint is due. The worker wraps it in consume/commit; tests and the benchmark call it
directly to build a log that is byte-for-byte what the worker would have written.

``TreeState`` is rebuilt from the audit topic (``TreeState.apply`` per record), so the
topic is the only place the state lives and the worker's outputs and offsets, committed
together, can never disagree with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from covenant.audit.merkle import MerkleTree, leaf_hash
from covenant.audit.records import (
    AuditBatch,
    AuditError,
    Checkpoint,
    digest_of,
    event_id_of,
    leaf_bytes,
)
from covenant.bus.protocol import Record, TopicPartition
from covenant.events.audit import (
    AUDIT_SUBJECT,
    CheckpointSigned,
    Leaf,
    LeavesAppended,
    checkpoint_message,
)
from covenant.events.base import Message, utc_now
from covenant.events.codec import Codec
from covenant.signing import Signer
from covenant.topics import AUDIT

__all__ = ["CheckpointPolicy", "TreeState", "audit_batch"]

ACTOR = "covenant"
"""``meta.actor`` of audit records: the platform itself, on nobody's behalf."""


@dataclass(frozen=True, slots=True)
class CheckpointPolicy:
    """When to sign a checkpoint.

    Attributes:
        every: sign once the tree has grown by this many leaves since the last one.
        interval_s: sign once the oldest unsigned leaf has waited this long, so a quiet
            log still gets every leaf under a signature within ``interval_s``.
    """

    every: int = 1000
    interval_s: float = 5.0


class TreeState:
    """The tree, how far each partition has been audited, and the last checkpoint."""

    def __init__(self) -> None:
        """An empty tree: the state of a log whose audit topic is empty."""
        self.tree = MerkleTree()
        self.checkpoint_size = 0
        self.checkpoint_root: bytes | None = None
        # Next offset to audit per partition: a record below it is already a leaf, so a
        # redelivery can never make a second leaf for the same position.
        self.next_offsets: dict[TopicPartition, int] = {}
        self.unsigned_since: float | None = None

    @property
    def size(self) -> int:
        """Number of leaves in the tree."""
        return self.tree.size

    def apply(self, item: AuditBatch | Checkpoint) -> None:
        """Replay one decoded audit record, checking it continues the tree.

        Raises:
            AuditError: the record does not continue the tree (a gap or overlap in leaf
                numbers, a leaf for an already audited position, a checkpoint whose
                size or root disagrees with the leaves before it).
        """
        if isinstance(item, AuditBatch):
            if item.first_leaf != self.tree.size:
                raise AuditError(
                    f"audit topic is inconsistent: a batch starts at leaf {item.first_leaf} "
                    f"but {self.tree.size} leaves precede it"
                )
            for leaf in item.leaves:
                self._claim(leaf.topic, leaf.partition, leaf.offset)
                self.tree.append_leaf_hash(leaf.leaf_hash())
            return
        if item.tree_size != self.tree.size or item.root_hash != self.tree.root():
            raise AuditError(
                f"audit topic is inconsistent: checkpoint at tree size {item.tree_size} does "
                f"not match the {self.tree.size} leaves before it"
            )
        self.checkpoint_size = item.tree_size
        self.checkpoint_root = item.root_hash

    def _claim(self, topic: str, partition: int, offset: int) -> None:
        tp = (topic, partition)
        if topic == AUDIT.name:
            raise AuditError(f"audit topic is inconsistent: a leaf names {topic}, the tree itself")
        if offset < self.next_offsets.get(tp, 0):
            raise AuditError(
                f"audit topic is inconsistent: {topic}/{partition}@{offset} is a leaf twice "
                "or out of order"
            )
        self.next_offsets[tp] = offset + 1

    def fold(self, records: Sequence[Record], *, codec: Codec, now: float) -> list[Leaf]:
        """Append each not yet audited record as a leaf and return the new leaves.

        Records of the audit topic and records below a partition's audited offset are
        skipped; everything else is hashed as the bytes it is, decodable or not.
        """
        leaves = []
        for rec in records:
            tp = (rec.topic, rec.partition)
            if rec.topic == AUDIT.name or rec.offset < self.next_offsets.get(tp, 0):
                continue
            digest = digest_of(rec.value)
            self.next_offsets[tp] = rec.offset + 1
            self.tree.append_leaf_hash(
                leaf_hash(leaf_bytes(rec.topic, rec.partition, rec.offset, digest))
            )
            leaves.append(
                Leaf(
                    topic=rec.topic,
                    partition=rec.partition,
                    offset=rec.offset,
                    digest=digest,
                    event_id=event_id_of(codec, rec.value),
                )
            )
        if leaves and self.unsigned_since is None:
            self.unsigned_since = now
        return leaves

    def checkpoint_due(self, *, now: float, policy: CheckpointPolicy) -> bool:
        """Whether unsigned leaves exist and the policy says to sign them now."""
        unsigned = self.tree.size - self.checkpoint_size
        if unsigned <= 0:
            return False
        waited = now - (self.unsigned_since if self.unsigned_since is not None else now)
        return unsigned >= policy.every or waited >= policy.interval_s

    async def sign_checkpoint(self, signer: Signer, *, producer: str) -> CheckpointSigned:
        """Sign the current tree head and record it as the last checkpoint."""
        size, root = self.tree.size, self.tree.root()
        signed_at = utc_now()
        text = checkpoint_message(
            tree_size=size, root_hash=root, signed_at=signed_at, key_id=signer.key_id
        )
        signature = await signer.sign(text)
        checkpoint: CheckpointSigned = CheckpointSigned.create(
            subject=AUDIT_SUBJECT,
            actor=ACTOR,
            producer=producer,
            tree_size=size,
            root_hash=root,
            signed_at=signed_at,
            key_id=signer.key_id,
            algorithm=signer.algorithm,
            signature=signature,
        )
        self.checkpoint_size, self.checkpoint_root = size, root
        self.unsigned_since = None
        return checkpoint


async def audit_batch(
    state: TreeState,
    records: Sequence[Record],
    *,
    codec: Codec,
    signer: Signer,
    policy: CheckpointPolicy,
    now: float,
    producer: str = "audit",
    may_sign: bool = True,
) -> list[Message]:
    """Grow ``state`` by one polled batch and return the audit records to publish.

    At most one ``LeavesAppended`` (none when every record was already audited or the
    batch is empty) followed by at most one ``CheckpointSigned``. ``state`` is changed
    in place: if the caller then fails to commit the outputs, it must rebuild the state
    from the audit topic, which is what the worker does.

    Args:
        state: the tree so far.
        records: the batch, in poll order; records of one partition in offset order.
        codec: decodes records for their event ids (undecodable ones get none).
        signer: signs checkpoints; any ``Signer`` (dev key file, HSM, KMS).
        policy: when a checkpoint is due.
        now: a monotonic clock reading, for ``policy.interval_s``.
        producer: ``meta.producer`` of the outputs.
        may_sign: False defers a due checkpoint (the caller cannot commit one now).
    """
    outputs: list[Message] = []
    first = state.size
    leaves = state.fold(records, codec=codec, now=now)
    if leaves:
        batch: LeavesAppended = LeavesAppended.create(
            subject=AUDIT_SUBJECT, actor=ACTOR, producer=producer, first_leaf=first, leaves=leaves
        )
        outputs.append(batch)
    if may_sign and state.checkpoint_due(now=now, policy=policy):
        outputs.append(await state.sign_checkpoint(signer, producer=producer))
    return outputs
