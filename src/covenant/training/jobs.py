"""What the training worker knows: every job's facts and the datasets it may read.

Folded from ``covenant.evt.train`` and ``covenant.evt.dataset`` as global tables
(``covenant.runtime.tables``), so any instance sees every job and every dataset
whichever partitions its group gave it. The status of a job is what its events
add up to; nothing here is updated in place on the log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from covenant.events.base import Message
from covenant.events.datasets import DatasetCleared, DatasetRegistered, ProvenanceReview
from covenant.events.refusals import RefusalCode
from covenant.events.training import (
    JobStatus,
    TrainingAllocated,
    TrainingCancelled,
    TrainingCheckpointed,
    TrainingCleared,
    TrainingCompleted,
    TrainingFailed,
    TrainingJob,
    TrainingPreempted,
    TrainingQueued,
    TrainingRejected,
    TrainingResumed,
    TrainingStarted,
)
from covenant.topics import DATASET_EVENTS, TRAIN_EVENTS, Topic

TERMINAL = frozenset(
    {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.REJECTED}
)


@dataclass
class DatasetFacts:
    """What a pre-train policy and a run need of one dataset."""

    checksum: str
    license: str
    pii_flags: list[str]
    blocked: bool
    provenance_review: ProvenanceReview | None
    approved: bool = False


@dataclass
class Allocation:
    """The compute a job holds."""

    pool: str
    accelerator: str | None
    accelerators: int
    hardware_class: str
    granted_at: datetime
    cost_rate: str = "0"
    currency: str = "USD"


@dataclass
class Job:
    """One job as its events add up."""

    spec: TrainingJob
    idempotency_key: str | None = None
    status: JobStatus = JobStatus.QUEUED
    queued_at: datetime | None = None
    cleared: bool = False
    allocation_requested: bool = False
    requested_pool: str | None = None
    allocation: Allocation | None = None
    released: bool = False
    attempt: int = 0
    started_at: datetime | None = None
    started: set[int] = field(default_factory=set)
    checkpoints: dict[int, dict[int, str]] = field(default_factory=dict)
    ended: set[int] = field(default_factory=set)
    completed: TrainingCompleted | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def last_checkpoint(self) -> tuple[int, str] | None:
        """The newest checkpoint of any attempt: (step, artifact id)."""
        best: tuple[int, str] | None = None
        for steps in self.checkpoints.values():
            for step, artifact in steps.items():
                if best is None or step > best[0]:
                    best = (step, artifact)
        return best


@dataclass
class TrainingState:
    """Every job and dataset; ``apply`` is idempotent (see ``WorkerState``)."""

    topics: tuple[Topic, ...] = (TRAIN_EVENTS, DATASET_EVENTS)
    jobs: dict[str, Job] = field(default_factory=dict)
    rejected: dict[str, str | None] = field(default_factory=dict)
    datasets: dict[str, DatasetFacts] = field(default_factory=dict)

    def reset(self) -> None:
        self.jobs.clear()
        self.rejected.clear()
        self.datasets.clear()

    def known(self, job_id: str) -> bool:
        return job_id in self.jobs or job_id in self.rejected

    def decided(self, job_id: str, idempotency_key: str | None) -> bool:
        """Whether a submit with this key was decided already (a client's retry)."""
        if idempotency_key is None:
            return False
        job = self.jobs.get(job_id)
        key = job.idempotency_key if job is not None else self.rejected.get(job_id)
        return key == idempotency_key

    def apply(self, message: Message) -> None:
        if isinstance(message, DatasetRegistered | DatasetCleared):
            self._apply_dataset(message)
            return
        if isinstance(message, TrainingQueued):
            self.jobs.setdefault(
                message.job.job_id,
                Job(
                    message.job,
                    idempotency_key=message.meta.idempotency_key,
                    queued_at=message.meta.occurred_at,
                ),
            )
            return
        if isinstance(message, TrainingRejected):
            job = self.jobs.get(message.job_id)
            if job is None:
                self.rejected.setdefault(message.job_id, message.meta.idempotency_key)
            elif not refuses_a_duplicate(message):  # a second submit leaves the first alone
                _advance(job, JobStatus.REJECTED)
            return
        job = self.jobs.get(getattr(message, "job_id", ""))
        if job is not None:
            _fold(job, message)

    def _apply_dataset(self, message: DatasetRegistered | DatasetCleared) -> None:
        if isinstance(message, DatasetRegistered):
            lineage = message.lineage
            self.datasets.setdefault(
                lineage.dataset_id,
                DatasetFacts(
                    checksum=lineage.checksum,
                    license=lineage.license,
                    pii_flags=list(lineage.pii_flags),
                    blocked=message.clearance.value == "blocked",
                    provenance_review=message.provenance_review,
                ),
            )
        else:
            facts = self.datasets.get(message.dataset_id)
            if facts is not None:
                facts.approved = True
                facts.blocked = False


def refuses_a_duplicate(message: TrainingRejected) -> bool:
    """Whether the refusal is of a submit that reused an existing job's id."""
    return any(r.code is RefusalCode.CONFLICT and r.field == "jobId" for r in message.refusals)


def _fold(job: Job, message: Message) -> None:
    """One job event into its job; repeats change nothing."""
    if isinstance(message, TrainingCleared):
        job.cleared = True
        job.allocation_requested = True
        job.requested_pool = message.pool
    elif isinstance(message, TrainingAllocated):
        if job.allocation is None:
            job.allocation = Allocation(
                message.pool,
                message.accelerator,
                message.accelerators,
                message.hardware_class,
                message.meta.occurred_at,
                message.cost_rate,
                message.currency,
            )
            job.attempt = max(job.attempt, 1)
        _advance(job, JobStatus.ALLOCATED)
    elif isinstance(message, TrainingStarted):
        job.started.add(message.attempt)
        job.started_at = job.started_at or message.meta.occurred_at
        _advance(job, JobStatus.STARTED)
    elif isinstance(message, TrainingCheckpointed):
        job.checkpoints.setdefault(message.attempt, {})[message.step] = message.artifact_id
        _advance(job, JobStatus.CHECKPOINTED)
    elif isinstance(message, TrainingPreempted):
        job.ended.add(message.attempt)
        _advance(job, JobStatus.PREEMPTED)
    elif isinstance(message, TrainingResumed):
        job.attempt = max(job.attempt, message.attempt)
        _advance(job, JobStatus.RESUMED)
    elif isinstance(message, TrainingCompleted):
        job.ended.add(message.attempt)
        job.released = True
        job.completed = message
        _advance(job, JobStatus.COMPLETED)
    elif isinstance(message, TrainingFailed):
        job.ended.add(message.attempt)
        job.released = True
        _advance(job, JobStatus.FAILED)
    elif isinstance(message, TrainingCancelled):
        job.released = True
        _advance(job, JobStatus.CANCELLED)


def _advance(job: Job, status: JobStatus) -> None:
    """Set the status unless the job already ended (a late observation of a run
    never reopens a finished job)."""
    if not job.terminal:
        job.status = status
