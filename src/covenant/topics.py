"""Every topic Covenant uses, declared once.

Code refers to these objects, never to topic-name literals, so a rename is one edit
and the topic list that ``covenant topics`` and start-up creation use cannot drift
from what the workers read and write. Command and event topics keep everything
forever: the log is the audit trail, and replay must be able to start at offset 0.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

FOREVER = -1


class TopicKind(StrEnum):
    """What a topic carries; decides retention and who may write it."""

    COMMAND = "command"
    EVENT = "event"
    DEADLETTER = "deadletter"
    AUDIT = "audit"
    EXPORT = "export"  # JSON for outside tools, not our Avro contract


@dataclass(frozen=True, slots=True)
class Topic:
    """One log topic.

    Attributes:
        name: the topic name on the wire.
        partitions: partition count; records are keyed by subject, so one entity's
            records stay in order within one partition.
        kind: what the topic carries.
        retention_ms: how long records are kept; ``FOREVER`` (-1) for the audit trail.
        doc: one line for ``covenant topics``.
    """

    name: str
    partitions: int
    kind: TopicKind
    doc: str
    retention_ms: int = FOREVER


DATASET_COMMANDS = Topic(
    "covenant.cmd.dataset", 3, TopicKind.COMMAND, "requests to register or clear datasets"
)
DATASET_EVENTS = Topic("covenant.evt.dataset", 3, TopicKind.EVENT, "dataset lineage facts")
ARTIFACT_COMMANDS = Topic(
    "covenant.cmd.artifact", 3, TopicKind.COMMAND, "requests to record stored artifacts"
)
ARTIFACT_EVENTS = Topic("covenant.evt.artifact", 3, TopicKind.EVENT, "artifact storage facts")
MODEL_COMMANDS = Topic("covenant.cmd.model", 3, TopicKind.COMMAND, "model registry requests")
MODEL_EVENTS = Topic("covenant.evt.model", 3, TopicKind.EVENT, "model registry facts")
TRAIN_COMMANDS = Topic(
    "covenant.cmd.train",
    3,
    TopicKind.COMMAND,
    "training jobs: submit, cancel, and what executors observed of their runs",
)
TRAIN_EVENTS = Topic("covenant.evt.train", 3, TopicKind.EVENT, "training job facts, one per step")
EVAL_COMMANDS = Topic(
    "covenant.cmd.eval", 3, TopicKind.COMMAND, "evaluation requests, keyed by model id"
)
EVAL_EVENTS = Topic(
    "covenant.evt.eval", 3, TopicKind.EVENT, "evaluation outcomes with every figure and gate"
)
RUN_COMMANDS = Topic(
    "covenant.cmd.run", 3, TopicKind.COMMAND, "dispatches to executors: start or stop one run"
)
POLICY_COMMANDS = Topic(
    "covenant.cmd.policy", 3, TopicKind.COMMAND, "policy evaluation requests (SentinelNet's input)"
)
POLICY_EVENTS = Topic(
    "covenant.evt.policy", 3, TopicKind.EVENT, "policy decisions with the rules that matched"
)
ALLOCATION_COMMANDS = Topic(
    "covenant.cmd.allocation",
    3,
    TopicKind.COMMAND,
    "compute requests and releases (the Resource Allocator's input), keyed by pool",
)
ALLOCATION_EVENTS = Topic(
    "covenant.evt.allocation",
    3,
    TopicKind.EVENT,
    "grants, queueing, denials and frees of compute, keyed by allocation",
)
FINANCE_EVENTS = Topic(
    "covenant.evt.finance", 3, TopicKind.EVENT, "compute usage and chargebacks for Finance"
)
PROMOTION_COMMANDS = Topic(
    "covenant.cmd.promotion",
    3,
    TopicKind.COMMAND,
    "promotion requests, approvals, deadlines, demotions and deprecations, keyed by model",
)
SIGNING_COMMANDS = Topic(
    "covenant.cmd.signing",
    3,
    TopicKind.COMMAND,
    "requests to sign a model version's manifest (the signing worker's input), keyed by model",
)
PROMOTION_EVENTS = Topic(
    "covenant.evt.promotion",
    3,
    TopicKind.EVENT,
    "manifest signatures, pending and blocked promotions, status changes, keyed by model",
)
SERVE_COMMANDS = Topic(
    "covenant.cmd.serve",
    3,
    TopicKind.COMMAND,
    "deploy, scale and rollback requests and what the serving agent observed, keyed by route",
)
SERVE_EVENTS = Topic(
    "covenant.evt.serve",
    3,
    TopicKind.EVENT,
    "deployment records, traffic splits, canary analyses and scale decisions, keyed by route",
)
DRIFT_SAMPLES = Topic(
    "covenant.cmd.drift.sample",
    3,
    TopicKind.COMMAND,
    "sampled requests and answers from model servers, and matched labels, keyed by route",
)
DRIFT_LABELS = Topic(
    "covenant.cmd.drift.label",
    3,
    TopicKind.COMMAND,
    "ground truth that arrived after the answer, by request id, keyed by route",
)
DRIFT_COMMANDS = Topic(
    "covenant.cmd.drift",
    3,
    TopicKind.COMMAND,
    "alerts from outside, retrain approvals and quarantine sign-offs, keyed by route",
)
DRIFT_EVENTS = Topic(
    "covenant.evt.drift",
    3,
    TopicKind.EVENT,
    "scored windows, alerts, findings, retrain proposals and quarantines, keyed by route",
)
DEADLETTER = Topic(
    "covenant.dlq", 1, TopicKind.DEADLETTER, "records a worker could not handle, with why"
)

AUDIT = Topic(
    "covenant.audit",
    1,
    TopicKind.AUDIT,
    "leaf order and signed checkpoints of the audit Merkle tree",
)

OPENLINEAGE = Topic(
    "covenant.lineage.openlineage",
    1,
    TopicKind.EXPORT,
    "OpenLineage run events (JSON) for lineage tools such as Marquez",
)

ALL_TOPICS: tuple[Topic, ...] = (
    DATASET_COMMANDS,
    DATASET_EVENTS,
    ARTIFACT_COMMANDS,
    ARTIFACT_EVENTS,
    MODEL_COMMANDS,
    MODEL_EVENTS,
    TRAIN_COMMANDS,
    TRAIN_EVENTS,
    EVAL_COMMANDS,
    EVAL_EVENTS,
    RUN_COMMANDS,
    POLICY_COMMANDS,
    POLICY_EVENTS,
    ALLOCATION_COMMANDS,
    ALLOCATION_EVENTS,
    FINANCE_EVENTS,
    PROMOTION_COMMANDS,
    SIGNING_COMMANDS,
    PROMOTION_EVENTS,
    SERVE_COMMANDS,
    SERVE_EVENTS,
    DRIFT_SAMPLES,
    DRIFT_LABELS,
    DRIFT_COMMANDS,
    DRIFT_EVENTS,
    DEADLETTER,
    AUDIT,
    OPENLINEAGE,
)


def deployed(topics: tuple[Topic, ...], *, partitions: int) -> tuple[Topic, ...]:
    """``topics`` as a deployment creates them: command and event topics with
    ``partitions`` partitions (a setting, ``COVENANT_PARTITIONS``), the others as
    declared (the dead-letter, audit and export topics have one, for one order)."""
    scaled = (TopicKind.COMMAND, TopicKind.EVENT)
    return tuple(replace(t, partitions=partitions) if t.kind in scaled else t for t in topics)


def topic_named(name: str) -> Topic:
    """Look a declared topic up by name, for CLI arguments.

    Raises:
        KeyError: with the declared names, when ``name`` is not one of them.
    """
    for topic in ALL_TOPICS:
        if topic.name == name:
            return topic
    known = ", ".join(t.name for t in ALL_TOPICS)
    raise KeyError(f"unknown topic {name!r}; declared topics: {known}")
