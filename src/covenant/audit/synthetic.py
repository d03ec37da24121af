"""An audited log built in memory, without a bus: for tests, benchmarks and demos.

Records get positions the way a log would give them (dense offsets per partition), are
"polled" in batches, and go through ``audit_batch``, the audit worker's own decision, so
the audit records are exactly what the worker would have written. The result is in
audit order, ready for ``covenant.audit.export.write_export``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from covenant.audit.records import Checkpoint, decode_audit
from covenant.audit.state import CheckpointPolicy, TreeState, audit_batch
from covenant.bus.partitioner import partition_for
from covenant.bus.protocol import Record, TopicPartition
from covenant.events.base import Message
from covenant.events.codec import Codec
from covenant.signing import Signer
from covenant.topics import AUDIT, Topic

__all__ = ["SyntheticLog", "build_log"]

_T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z: fixed, so runs are comparable


@dataclass
class SyntheticLog:
    """An audited log in audit order.

    Attributes:
        records: every record, audit records included, in audit order.
        state: the audit tree after the last batch.
        checkpoints: every checkpoint, decoded, in order.
        audit_offsets: offset on the audit topic of each checkpoint, by tree size.
    """

    records: list[Record] = field(default_factory=list)
    state: TreeState = field(default_factory=TreeState)
    checkpoints: list[Checkpoint] = field(default_factory=list)
    audit_offsets: dict[int, int] = field(default_factory=dict)

    @property
    def last_checkpoint(self) -> Checkpoint:
        """The newest checkpoint (raises IndexError when there is none)."""
        return self.checkpoints[-1]


async def build_log(
    entries: Iterable[tuple[Topic, bytes, bytes]],
    *,
    codec: Codec,
    signer: Signer,
    batch_size: int = 1000,
    policy: CheckpointPolicy | None = None,
    sign_last: bool = True,
) -> SyntheticLog:
    """Audit ``entries`` (topic, key, value) as if published in this order.

    Args:
        entries: the records; the key picks the partition as on a real log.
        codec: the audit worker's codec (event ids, audit records).
        signer: signs checkpoints.
        batch_size: records per simulated poll.
        policy: checkpoint policy; the interval never fires (time stands still).
        sign_last: sign a final checkpoint so every record is covered, as the worker's
            interval would have done on a live log.
    """
    policy = policy or CheckpointPolicy(every=1000, interval_s=float("inf"))
    out = SyntheticLog()
    next_offset: dict[TopicPartition, int] = {}
    batch: list[Record] = []

    def emit(messages: list[Message], audited: list[Record]) -> None:
        for message in messages:
            offset = next_offset.get((AUDIT.name, 0), 0)
            next_offset[(AUDIT.name, 0)] = offset + 1
            rec = Record(AUDIT.name, 0, offset, b"audit", codec.encode(message), _T0_MS + offset)
            out.records.append(rec)
            item = decode_audit(codec, rec.value)
            if isinstance(item, Checkpoint):
                out.checkpoints.append(item)
                out.audit_offsets[item.tree_size] = offset
            else:
                out.records.extend(audited)

    async def flush() -> None:
        # A poll hands back each partition's records together, in offset order.
        batch.sort(key=lambda r: (r.topic, r.partition))
        messages = await audit_batch(
            out.state, batch, codec=codec, signer=signer, policy=policy, now=0.0
        )
        emit(messages, list(batch))
        batch.clear()

    for i, (topic, key, value) in enumerate(entries):
        tp = (topic.name, partition_for(key, topic.partitions))
        offset = next_offset.get(tp, 0)
        next_offset[tp] = offset + 1
        batch.append(Record(tp[0], tp[1], offset, key, value, _T0_MS + i))
        if len(batch) >= batch_size:
            await flush()
    if batch:
        await flush()
    if sign_last and out.state.size > out.state.checkpoint_size:
        emit([await out.state.sign_checkpoint(signer, producer="audit")], [])
    return out
