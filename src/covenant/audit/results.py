"""What verification returns: the result, and the first discrepancy with where it is.

Shared by the exact verifier, the fast scanner, the CLI and the tests, so one shape
carries every verdict: counts of what verified, and on failure the first problem with
its topic, partition, offset, event id (when known) and a reason for a person.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from covenant.audit.records import AuditError

__all__ = ["Discrepancy", "DiscrepancyError", "Progress", "VerifyResult"]

Progress = Callable[[int], None]
"""Called with the number of records just verified, to advance a progress display."""


@dataclass(frozen=True, slots=True)
class Discrepancy:
    """The first thing that did not verify, and where.

    Attributes:
        reason: what is wrong, for a person.
        topic, partition, offset: the record (or audit record) it is about, when known.
        event_id: that record's event id, when known.
        leaf_index: the leaf it is about, when it is about one.
        tree_size: the checkpoint it is about, when it is about one.
    """

    reason: str
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    event_id: str | None = None
    leaf_index: int | None = None
    tree_size: int | None = None

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form, with the camelCase names the rest of the output uses."""
        return {
            "reason": self.reason,
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "eventId": self.event_id,
            "leafIndex": self.leaf_index,
            "treeSize": self.tree_size,
        }

    def where(self) -> str:
        """``topic/partition@offset`` (plus leaf or checkpoint) or "" when unknown."""
        parts = []
        if self.topic is not None:
            parts.append(f"{self.topic}/{self.partition}@{self.offset}")
        if self.event_id:
            parts.append(f"event {self.event_id}")
        if self.leaf_index is not None:
            parts.append(f"leaf {self.leaf_index}")
        if self.tree_size is not None:
            parts.append(f"checkpoint at tree size {self.tree_size}")
        return ", ".join(parts)


class DiscrepancyError(AuditError):
    """Raised inside verification to stop at the first discrepancy; drivers turn it
    into a failed ``VerifyResult``."""

    def __init__(self, discrepancy: Discrepancy) -> None:
        super().__init__(discrepancy.reason)
        self.discrepancy = discrepancy


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """What verification found.

    Attributes:
        records: audited records verified and covered by a verified checkpoint.
        checkpoints: checkpoints whose root and signature verified.
        pending: records on a live log not yet under a signed checkpoint (audited but
            unsigned, or not yet audited); always 0 for a file.
        tree_size: size of the last verified checkpoint.
        root_hash: its root, None before the first one.
        discrepancy: the first problem, None when everything verified.
    """

    records: int
    checkpoints: int
    pending: int
    tree_size: int
    root_hash: bytes | None
    discrepancy: Discrepancy | None = None

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return self.discrepancy is None

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form (``--json``)."""
        return {
            "ok": self.ok,
            "records": self.records,
            "checkpoints": self.checkpoints,
            "pending": self.pending,
            "treeSize": self.tree_size,
            "rootHash": self.root_hash.hex() if self.root_hash is not None else None,
            "discrepancy": self.discrepancy.to_dict() if self.discrepancy else None,
        }
