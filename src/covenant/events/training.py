"""Training job commands and events, carrying the spec's ``TrainingJob``.

A job's status is the sequence of its events (queued, allocated, started,
checkpointed, preempted, resumed, completed, failed, cancelled), never a field
updated in place. Hyperparameters travel as JSON literals (``"0.01"``, ``"10"``,
``"\\"adam\\""``) in a string map: Avro has no "any JSON scalar" type, and the literal
is exactly what the entrypoint receives, so a rerun cannot drift through a float
rounding on the way.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from covenant.events.base import Command, Event, Record
from covenant.events.refusals import Refusal
from covenant.events.runs import RunRecord
from covenant.topics import TRAIN_COMMANDS, TRAIN_EVENTS


class ComputeRequirements(Record):
    """What a job asks for; the spec's example asks for ``2xA100`` in ``gpu-us-east``."""

    pool: str | None = Field(default=None, description="a declared pool; None: any that fits")
    accelerator: str | None = Field(default=None, description="e.g. A100; None: CPU only")
    accelerators: int = Field(default=0, description="accelerators per job")
    cpus: float = 1.0
    memory_gb: float = 1.0
    workers: int = Field(default=1, description="data-parallel workers (Ray Train)")
    executor: str | None = Field(default=None, description="local or ray; None: the default")


class RetryPolicy(Record):
    """How often a preempted run is resumed from its last checkpoint."""

    max_attempts: int = Field(default=3, description="runs in all, the first included")


class TargetModel(Record):
    """The model version a completed job registers (as a draft)."""

    family: str
    version: str


class SubmitTraining(Command, type="train.submit", topic=TRAIN_COMMANDS):
    """Ask to train: code at a commit, on registered datasets, with a seed."""

    job_id: str
    model_family: str
    team: str = Field(description="who is charged and whose quota it draws on")
    dataset_refs: list[str] = Field(description="registered dataset ids")
    code_ref: str = Field(description="repo#commit; the commit is a full 40-hex id")
    entrypoint: str = Field(description="module:function inside the code")
    hyperparams: dict[str, str] = Field(default_factory=dict, description="JSON literals")
    seed: int = 0
    compute: ComputeRequirements = Field(default_factory=ComputeRequirements)
    retry_policy: RetryPolicy = Field(default_factory=RetryPolicy)
    retrain_reason: str | None = None
    target: TargetModel | None = None
    reproduces: str | None = Field(
        default=None, description="the job this one re-runs to verify it (train rerun --verify)"
    )


class CancelTraining(Command, type="train.cancel", topic=TRAIN_COMMANDS):
    """Ask to stop a job; nothing it made is registered."""

    job_id: str
    reason: str = ""


class RunReportKind(StrEnum):
    """What an executor saw of one run."""

    STARTED = "started"
    CHECKPOINT = "checkpoint"
    METRICS = "metrics"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    LOST = "lost"
    CANCELLED = "cancelled"


class ReportRun(Command, type="train.report", topic=TRAIN_COMMANDS):
    """An observation of a run, from the executors' runner. Observations may repeat
    (the runner reports at least once); the job's single writer keeps the first."""

    job_id: str
    attempt: int
    kind: RunReportKind
    step: int | None = None
    artifact_id: str | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    outputs: dict[str, str] = Field(default_factory=dict, description="path -> artifact id")
    record: RunRecord | None = None
    logs_ref: str | None = Field(default=None, description="artifact id of the run's log")
    reason: str | None = None
    cpu_seconds: float | None = None
    gpu_seconds: float | None = None


class ExpireTraining(Command, type="train.expire", topic=TRAIN_COMMANDS):
    """A deadline passed for a job waiting on an answer (the policy decision);
    a job still waiting fails closed."""

    job_id: str
    waiting_for: str


class JobStatus(StrEnum):
    """The status the events of a job add up to."""

    QUEUED = "queued"
    ALLOCATED = "allocated"
    STARTED = "started"
    CHECKPOINTED = "checkpointed"
    PREEMPTED = "preempted"
    RESUMED = "resumed"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


class TrainingJob(Record):
    """The spec's TrainingJob as submitted; what happened next is in later events."""

    job_id: str
    model_family: str
    team: str
    dataset_refs: list[str]
    code_repo: str
    code_commit: str
    entrypoint: str
    hyperparams: dict[str, str] = Field(default_factory=dict)
    seed: int
    compute: ComputeRequirements
    retry_policy: RetryPolicy
    retrain_reason: str | None = None
    target: TargetModel | None = None
    reproduces: str | None = None
    dataset_checksums: dict[str, str] = Field(description="dataset id -> sha256:<hex> now")
    created_by: str
    created_at: datetime


class TrainingQueued(Event, type="train.queued", topic=TRAIN_EVENTS):
    """A job passed validation and waits for policy and compute."""

    job: TrainingJob


class TrainingRejected(Event, type="train.rejected", topic=TRAIN_EVENTS):
    """A job was refused before anything was allocated or started."""

    job_id: str
    reasons: list[str] = Field(description="the refusals' messages, for older readers")
    refusals: list[Refusal] = Field(default_factory=list)


class TrainingCleared(Event, type="train.cleared", topic=TRAIN_EVENTS):
    """The pre-train policy allowed the job."""

    job_id: str
    policy_version: str
    decision_id: str = Field(description="eventId of the policy decision")
    pool: str | None = Field(default=None, description="the pool compute is requested in")


class TrainingAllocated(Event, type="train.allocated", topic=TRAIN_EVENTS):
    """Compute was granted; the first run is dispatched."""

    job_id: str
    pool: str
    accelerator: str | None = None
    accelerators: int = 0
    hardware_class: str
    cost_rate: str = Field(default="0", description="decimal price per unit-hour")
    currency: str = "USD"


class TrainingStarted(Event, type="train.started", topic=TRAIN_EVENTS):
    """A run of the job started on an executor."""

    job_id: str
    attempt: int
    run_id: str
    executor: str
    record: RunRecord | None = None


class TrainingCheckpointed(Event, type="train.checkpointed", topic=TRAIN_EVENTS):
    """A checkpoint of the run is stored as an artifact."""

    job_id: str
    attempt: int
    step: int
    artifact_id: str


class TrainingPreempted(Event, type="train.preempted", topic=TRAIN_EVENTS):
    """The run died without finishing (spot reclaim, node failure, SIGKILL)."""

    job_id: str
    attempt: int
    reason: str
    last_checkpoint: str | None = None


class TrainingResumed(Event, type="train.resumed", topic=TRAIN_EVENTS):
    """A new run continues the job from its last checkpoint."""

    job_id: str
    attempt: int
    from_checkpoint: str | None = None
    from_step: int | None = None


class TrainingArtifact(Record):
    """One output of a run, content-addressed, tagged with what made it."""

    path: str
    artifact_id: str
    kind: str = Field(description="model, checkpoint, logs, metrics or output")


class TrainingCompleted(Event, type="train.completed", topic=TRAIN_EVENTS):
    """The job finished; its outputs are stored, its record complete."""

    job_id: str
    attempt: int
    artifacts: list[TrainingArtifact]
    metrics: dict[str, float] = Field(default_factory=dict)
    record: RunRecord
    logs_ref: str | None = None
    started_at: datetime
    ended_at: datetime


class TrainingFailed(Event, type="train.failed", topic=TRAIN_EVENTS):
    """The job ended without a result (the entrypoint failed, or retries ran out)."""

    job_id: str
    attempt: int
    reason: str
    logs_ref: str | None = None


class TrainingCancelled(Event, type="train.cancelled", topic=TRAIN_EVENTS):
    """The job was stopped on request; its run is gone, its allocation released."""

    job_id: str
    reason: str
    cancelled_by: str


class RecordDifference(Record):
    """One input that differs between a job and its rerun."""

    field: str = Field(description="commit, environment, data, seed, hyperparams, hardware")
    original: str
    rerun: str


class TrainingReproduced(Event, type="train.reproduced", topic=TRAIN_EVENTS):
    """A rerun finished: whether it made the same bytes, and if not, why."""

    job_id: str = Field(description="the rerun")
    original_job_id: str
    identical: bool
    differences: list[RecordDifference] = Field(default_factory=list)
    differing_outputs: list[str] = Field(default_factory=list)
