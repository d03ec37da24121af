"""The documents of the training routes (``covenant.gateway.training``).

Apart from ``documents.py`` only to keep each module readable in one sitting; the
conventions are the same (camelCase, one model per shape serving the OpenAPI
document and the answer alike). A ``201`` of a waited submit and a ``GET`` of the
job are the same ``TrainingJobDoc``, so a client parses one shape whichever it
got; the ``201`` is the job as queued, the ``GET`` as its events add up since.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from covenant.events.refusals import Refusal
from covenant.events.runs import RunRecord
from covenant.events.training import (
    JobStatus,
    RecordDifference,
    TrainingArtifact,
    TrainingJob,
    TrainingQueued,
)
from covenant.gateway.documents import Document
from covenant.gateway.jobs import JobView


class JobStepDoc(Document):
    """One event of the job, oldest first: how its status came about."""

    type: str = Field(description="e.g. train.allocated")
    at: datetime
    event_id: str


class CheckpointDoc(Document):
    """A stored checkpoint of one attempt."""

    step: int
    artifact_id: str


class AttemptDoc(Document):
    """One run of the job (a preempted run is resumed as the next attempt)."""

    attempt: int
    started: bool
    ended: bool
    checkpoints: list[CheckpointDoc] = Field(description="by step")


class AllocationDoc(Document):
    """The compute the job was granted."""

    pool: str
    hardware_class: str
    accelerator: str | None
    accelerators: int
    cost_rate: str = Field(description="decimal price per unit-hour")
    currency: str
    granted_at: datetime


class ReproductionDoc(Document):
    """For a rerun: whether it made the same bytes as the job it re-ran, and why not."""

    original_job_id: str
    identical: bool
    differences: list[RecordDifference] = Field(description="inputs that differ")
    differing_outputs: list[str] = Field(description="output paths whose bytes differ")


class TrainingJobDoc(Document):
    """A training job: the spec's TrainingJob as submitted, and what happened since."""

    job_id: str
    status: JobStatus = Field(description="what the job's events add up to")
    command_id: str | None = Field(
        default=None, description="only in a waited submit's 201: the train.submit command"
    )
    job: TrainingJob | None = Field(
        description="as submitted and recorded (commit, data checksums); null for a job "
        "refused at submit"
    )
    attempt: int = Field(description="the current run, 0 before compute was granted")
    attempts: list[AttemptDoc]
    start_ts: datetime | None = Field(description="when the first run started")
    end_ts: datetime | None = Field(description="when the job ended")
    reason: str | None = Field(description="why it failed, was cancelled or was refused")
    refusals: list[Refusal] = Field(description="for a rejected job: every reason, coded")
    logs_ref: str | None = Field(description="artifact id of the run's log")
    artifact_refs: list[TrainingArtifact]
    metrics: dict[str, float]
    record: RunRecord | None = Field(description="what decides the run's outputs")
    allocation: AllocationDoc | None
    reproduction: ReproductionDoc | None = Field(description="for a rerun, once it ended")
    history: list[JobStepDoc]

    @classmethod
    def of(cls, view: JobView) -> TrainingJobDoc:
        """The document of a job as the gateway's view has it."""
        job, extras = view.job, view.extras
        completed = job.completed if job is not None else None
        allocation = job.allocation if job is not None else None
        reproduced = extras.reproduced
        return cls(
            job_id=view.job_id,
            status=view.status,
            job=job.spec if job is not None else None,
            attempt=job.attempt if job is not None else 0,
            attempts=[]
            if job is None
            else _attempts(job.attempt, job.started, job.ended, job.checkpoints),
            start_ts=completed.started_at if completed else (job.started_at if job else None),
            end_ts=extras.ended_at,
            reason=extras.reason,
            refusals=extras.refusals,
            logs_ref=extras.logs_ref,
            artifact_refs=completed.artifacts if completed else [],
            metrics=completed.metrics if completed else {},
            record=extras.record,
            allocation=None
            if allocation is None
            else AllocationDoc.model_validate(allocation, from_attributes=True),
            reproduction=None
            if reproduced is None
            else ReproductionDoc.model_validate(reproduced, from_attributes=True),
            history=[JobStepDoc.model_validate(s, from_attributes=True) for s in extras.history],
        )

    @classmethod
    def queued(cls, event: TrainingQueued, command_id: str) -> TrainingJobDoc:
        """The document of a job that was just queued, from its event alone."""
        meta = event.meta
        return cls(
            job_id=event.job.job_id,
            status=JobStatus.QUEUED,
            command_id=command_id,
            job=event.job,
            attempt=0,
            attempts=[],
            start_ts=None,
            end_ts=None,
            reason=None,
            refusals=[],
            logs_ref=None,
            artifact_refs=[],
            metrics={},
            record=None,
            allocation=None,
            reproduction=None,
            history=[JobStepDoc(type=meta.type, at=meta.occurred_at, event_id=meta.event_id)],
        )


def _attempts(
    current: int, started: set[int], ended: set[int], checkpoints: dict[int, dict[int, str]]
) -> list[AttemptDoc]:
    return [
        AttemptDoc(
            attempt=n,
            started=n in started,
            ended=n in ended,
            checkpoints=[
                CheckpointDoc(step=step, artifact_id=artifact)
                for step, artifact in sorted(checkpoints.get(n, {}).items())
            ],
        )
        for n in range(1, current + 1)
    ]


class TrainingAcceptedDoc(Document):
    """The command is on the log; its outcome is not known yet."""

    job_id: str = Field(description="the job's id, given or made by the gateway")
    command_id: str = Field(description="the command's eventId")
    status: Literal["accepted"] = "accepted"
    status_url: str = Field(description="poll this for the command's outcome (also in Location)")
    job_url: str = Field(description="the job, readable once the submit was decided")


class TrainingCancelledDoc(Document):
    """The job was cancelled; nothing it made will be registered."""

    command_id: str
    job_id: str
    status: Literal["cancelled"] = "cancelled"
    reason: str
    cancelled_by: str
