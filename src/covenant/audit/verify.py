"""Verifying the audit trail: the exact, streaming reference verifier.

``AuditVerifier`` consumes the log in audit order: each ``LeavesAppended`` record of the
audit topic, then the records its leaves name, in leaf order, and each
``CheckpointSigned`` after the batches it covers. That is the order of an export file
(``covenant.audit.export``) and the order ``verify_live`` reads a running log in. It
checks, stopping at the first discrepancy:

* every leaf names a record that is there, at that place, whose SHA-256 matches;
* no position is a leaf twice, and leaves of one partition follow log order;
* leaf numbers continue without gap or overlap from batch to batch;
* every checkpoint's size is the number of leaves before it, its root is the root of
  those leaves, its key id is the trusted key's and its signature verifies;
* nothing is left over: an export holds no record, and no leaf, that a signed checkpoint
  does not cover. A live log may: that is reported as ``pending``, not as a failure.

Only audit records are decoded; every other record is just bytes to hash, so garbage is
verified like anything else. ``covenant.audit.scan`` verifies export files much faster
and falls back to this verifier, which is the one that names the first discrepancy.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import NoReturn

from covenant.audit.cursor import LogCursor
from covenant.audit.merkle import MerkleTree
from covenant.audit.records import (
    AuditBatch,
    AuditError,
    Checkpoint,
    LeafEntry,
    audit_codec,
    audited_topics,
    decode_audit,
    digest_of,
    event_id_of,
)
from covenant.audit.results import Discrepancy, DiscrepancyError, Progress, VerifyResult
from covenant.bus.protocol import Bus, Record, TopicPartition
from covenant.events.codec import Codec
from covenant.signing import SignatureError, key_id_for
from covenant.topics import ALL_TOPICS, AUDIT

__all__ = ["AuditVerifier", "verify_live", "verify_records"]


class AuditVerifier:
    """Feed it the log in audit order; it raises ``DiscrepancyError`` at the first problem.

    Args:
        public_key_pem: the audit signer's public key, the only thing trusted.
        codec: decodes audit records; the default knows exactly those.
        live: records after the last checkpoint are pending rather than a failure.

    Raises:
        AuditError: ``public_key_pem`` is not a readable Ed25519 public key.
    """

    def __init__(self, *, public_key_pem: bytes, codec: Codec | None = None, live: bool = False):
        try:
            self._key_id = key_id_for(public_key_pem)
        except SignatureError as exc:
            raise AuditError(f"cannot use the public key: {exc}") from None
        self._public_key_pem = public_key_pem
        self._codec = audit_codec(codec)
        self._live = live
        self._tree = MerkleTree()
        self._expected: deque[LeafEntry] = deque()
        self._next: dict[TopicPartition, int] = {}
        self._audit_offset = -1
        self._matched = 0
        self._checkpoints = 0
        self._signed_size = 0
        self._signed_root: bytes | None = None
        self._first_unsigned: LeafEntry | None = None

    def feed(self, rec: Record) -> list[LeafEntry]:
        """Take the next record of the audit order; returns the leaves it added."""
        if rec.topic == AUDIT.name:
            return self.audit(rec)
        self.record(rec)
        return []

    def audit(self, rec: Record) -> list[LeafEntry]:
        """Take a record of the audit topic; returns the leaves it added (none for a
        checkpoint), whose records must come next."""
        if rec.offset <= self._audit_offset:
            self._fail(rec, "audit record appears twice or out of order on the audit topic")
        self._audit_offset = rec.offset
        if self._expected:
            self._missing()
        try:
            item = decode_audit(self._codec, rec.value)
        except AuditError as exc:
            self._fail(rec, str(exc))
        if isinstance(item, Checkpoint):
            self._checkpoint(rec, item)
            return []
        return self._batch(rec, item)

    def _batch(self, rec: Record, batch: AuditBatch) -> list[LeafEntry]:
        if batch.first_leaf != self._tree.size:
            self._fail(
                rec,
                f"leaf numbers do not continue: this batch starts at leaf {batch.first_leaf} "
                f"but {self._tree.size} leaves precede it",
            )
        for leaf in batch.leaves:
            tp = (leaf.topic, leaf.partition)
            if leaf.topic == AUDIT.name:
                self._fail_leaf(leaf, "a leaf names a record of the audit topic itself")
            if leaf.offset < self._next.get(tp, 0):
                self._fail_leaf(
                    leaf,
                    f"leaf names a position at or before an earlier leaf of {tp[0]}/{tp[1]} "
                    f"(which reached offset {self._next[tp] - 1}): a record twice in the tree "
                    "or out of log order",
                )
            if len(leaf.digest) != 32:
                self._fail_leaf(leaf, f"leaf digest is {len(leaf.digest)} bytes, not 32")
            self._next[tp] = leaf.offset + 1
            self._tree.append_leaf_hash(leaf.leaf_hash())
        self._expected.extend(batch.leaves)
        if self._first_unsigned is None and batch.leaves:
            self._first_unsigned = batch.leaves[0]
        return batch.leaves

    def _checkpoint(self, rec: Record, cp: Checkpoint) -> None:
        def fail(reason: str) -> NoReturn:
            raise DiscrepancyError(
                Discrepancy(reason, rec.topic, rec.partition, rec.offset, tree_size=cp.tree_size)
            )

        if cp.tree_size != self._tree.size:
            fail(
                f"checkpoint claims tree size {cp.tree_size} but {self._tree.size} leaves "
                "precede it"
            )
        root = self._tree.root()
        if cp.root_hash != root:
            fail(
                f"checkpoint root {cp.root_hash.hex()} is not the root {root.hex()} of the "
                f"{cp.tree_size} leaves before it: a leaf or its record was altered"
            )
        try:
            cp.verify(self._public_key_pem, key_id=self._key_id)
        except AuditError as exc:
            fail(str(exc))
        self._checkpoints += 1
        self._signed_size, self._signed_root = cp.tree_size, cp.root_hash
        self._first_unsigned = None

    def record(self, rec: Record) -> None:
        """Take an audited record; it must be the one the next expected leaf names."""
        if not self._expected:
            self._fail(rec, "record is not named by any leaf of the audit trail")
        leaf = self._expected[0]
        if (rec.topic, rec.partition) == (leaf.topic, leaf.partition) and rec.offset < leaf.offset:
            self._fail(
                rec,
                f"record is not in the audit tree: leaf {leaf.index} of its partition skips "
                f"from before it to offset {leaf.offset}",
            )
        if (rec.topic, rec.partition, rec.offset) != (leaf.topic, leaf.partition, leaf.offset):
            self._fail_leaf(
                leaf,
                f"the record this leaf names is missing or out of place: "
                f"{rec.topic}/{rec.partition}@{rec.offset} is where it should be",
            )
        if digest_of(rec.value) != leaf.digest:
            self._fail_leaf(
                leaf, "record bytes do not match the leaf digest: the record was altered"
            )
        self._expected.popleft()
        self._matched += 1

    def missing(self) -> NoReturn:
        """The log has no record for the next expected leaf; always raises."""
        self._missing()

    def _missing(self) -> NoReturn:
        leaf = self._expected[0]
        self._fail_leaf(leaf, "the record this leaf names is missing")

    def finish(self, *, unaudited: int = 0) -> VerifyResult:
        """End of input: check nothing is left over and return the result.

        Args:
            unaudited: live mode: records on the log that no leaf names yet.
        """
        if self._expected:
            self._missing()
        unsigned = self._tree.size - self._signed_size
        if not self._live and self._first_unsigned is not None:
            self._fail_leaf(
                self._first_unsigned,
                f"{unsigned} leaves from here on are not covered by a signed checkpoint",
            )
        if not self._live and unaudited:
            raise DiscrepancyError(Discrepancy(f"{unaudited} records are not in the audit tree"))
        return self.result(pending=unsigned + unaudited if self._live else 0)

    def result(self, discrepancy: Discrepancy | None = None, *, pending: int = 0) -> VerifyResult:
        """The result so far, failed with ``discrepancy`` when given."""
        return VerifyResult(
            records=min(self._matched, self._signed_size),
            checkpoints=self._checkpoints,
            pending=pending,
            tree_size=self._signed_size,
            root_hash=self._signed_root,
            discrepancy=discrepancy,
        )

    def _fail(self, rec: Record, reason: str) -> NoReturn:
        event_id = event_id_of(self._codec, rec.value) if rec.topic != AUDIT.name else None
        raise DiscrepancyError(
            Discrepancy(reason, rec.topic, rec.partition, rec.offset, event_id=event_id)
        )

    def _fail_leaf(self, leaf: LeafEntry, reason: str) -> NoReturn:
        raise DiscrepancyError(
            Discrepancy(
                reason,
                leaf.topic,
                leaf.partition,
                leaf.offset,
                event_id=leaf.event_id,
                leaf_index=leaf.index,
            )
        )


def verify_records(
    records: Iterable[Record],
    *,
    public_key_pem: bytes,
    codec: Codec | None = None,
    live: bool = False,
) -> VerifyResult:
    """Verify records already in audit order (the pure core, no bus and no file).

    Args:
        records: audit records and the records their leaves name, in audit order.
        public_key_pem: the audit signer's public key.
        codec: decodes audit records; the default knows exactly those.
        live: leaves after the last checkpoint are pending instead of a failure.
    """
    verifier = AuditVerifier(public_key_pem=public_key_pem, codec=codec, live=live)
    try:
        for rec in records:
            verifier.feed(rec)
        return verifier.finish()
    except DiscrepancyError as exc:
        return verifier.result(exc.discrepancy)


async def verify_live(
    bus: Bus,
    *,
    public_key_pem: bytes,
    codec: Codec | None = None,
    progress: Progress | None = None,
) -> VerifyResult:
    """Verify the trail on a running log, as of now.

    Reads the audit topic and, leaf by leaf, the records it names; records and leaves
    after the last checkpoint are counted as ``pending``.
    """
    verifier = AuditVerifier(public_key_pem=public_key_pem, codec=codec, live=True)
    await bus.ensure_topics(ALL_TOPICS)
    cursor = LogCursor(bus.read(audited_topics(ALL_TOPICS)))
    try:
        async for rec in bus.read([AUDIT]):
            leaves = verifier.audit(rec)
            for leaf in leaves:
                found = await cursor.take((leaf.topic, leaf.partition))
                if found is None:
                    verifier.missing()
                else:
                    verifier.record(found)
            if progress is not None:
                progress(len(leaves) + 1)
        return verifier.finish(unaudited=await cursor.count_rest())
    except DiscrepancyError as exc:
        return verifier.result(exc.discrepancy)
    finally:
        await cursor.aclose()
