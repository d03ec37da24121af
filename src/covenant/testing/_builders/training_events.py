"""Builders for a training job's events after it is queued (``covenant.events.training``).

Each is what the training worker writes (producer ``training``, subject the job id),
with the defaults of ``runs`` and ``training``: attempt 1 of ``job-1`` runs on the
local executor in pool ``cpu-local``, checkpoints at ``checkpoint_id(job, attempt,
step)`` and writes its model at ``model_output_id(job)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final, Unpack

from covenant.events import runs
from covenant.events import training as tr
from covenant.events.refusals import Refusal, RefusalCode
from covenant.testing._builders._meta import M, Meta, actor_of, build, clock_of, refused, strings
from covenant.testing._builders.policy import POLICY_VERSION
from covenant.testing._builders.runs import EXECUTOR, HARDWARE_CLASS, JOB_ID, POOL, run_record
from covenant.testing._builders.training import MODEL_OUTPUT, model_output_id
from covenant.testing._builders.training import checkpoint_id as _checkpoint_id
from covenant.testing._ids import SequentialIds
from covenant.training.executors.protocol import run_id_for

DECISION_ID: Final = SequentialIds.id_of(0)
"""``training_cleared``'s default ``decision_id``; pass the decision's
``meta.event_id`` to link the two."""


def _event(cls: type[M], meta: Meta, job_id: str, **body: Any) -> M:
    return build(cls, meta, subject=job_id, producer="training", job_id=job_id, **body)


def training_rejected(
    job_id: str = JOB_ID,
    *,
    reasons: Sequence[str] | None = None,
    refusals: Sequence[Refusal] | None = None,
    code: RefusalCode = RefusalCode.INVALID,
    **meta: Unpack[Meta],
) -> tr.TrainingRejected:
    """A ``train.rejected`` event (see ``dataset_rejected`` for how ``reasons``,
    ``refusals`` and ``code`` combine); ``code=RefusalCode.POLICY`` is a job the
    pre-train policy denied."""
    texts, why = refused(
        reasons=reasons,
        refusals=refusals,
        code=code,
        default=f"training job {job_id!r} was refused ({code.value})",
    )
    return _event(tr.TrainingRejected, meta, job_id, reasons=texts, refusals=why)


def training_cleared(
    job_id: str = JOB_ID,
    *,
    policy_version: str = POLICY_VERSION,
    decision_id: str = DECISION_ID,
    **meta: Unpack[Meta],
) -> tr.TrainingCleared:
    """A ``train.cleared`` event: the pre-train policy allowed the job."""
    return _event(
        tr.TrainingCleared, meta, job_id, policy_version=policy_version, decision_id=decision_id
    )


def training_allocated(
    job_id: str = JOB_ID,
    *,
    pool: str = POOL,
    accelerator: str | None = None,
    accelerators: int = 0,
    hardware_class: str = HARDWARE_CLASS,
    **meta: Unpack[Meta],
) -> tr.TrainingAllocated:
    """A ``train.allocated`` event: CPU compute in ``cpu-local`` unless told."""
    return _event(
        tr.TrainingAllocated,
        meta,
        job_id,
        pool=pool,
        accelerator=accelerator,
        accelerators=accelerators,
        hardware_class=hardware_class,
    )


def training_started(
    job_id: str = JOB_ID,
    attempt: int = 1,
    *,
    run_id: str | None = None,
    executor: str = EXECUTOR,
    record: runs.RunRecord | None = None,
    **meta: Unpack[Meta],
) -> tr.TrainingStarted:
    """A ``train.started`` event; ``run_id`` defaults to ``<job_id>.a<attempt>`` and
    ``record`` to ``run_record(executor=executor)``."""
    return _event(
        tr.TrainingStarted,
        meta,
        job_id,
        attempt=attempt,
        run_id=run_id if run_id is not None else run_id_for(job_id, attempt),
        executor=executor,
        record=record if record is not None else run_record(executor=executor),
    )


def training_checkpointed(
    job_id: str = JOB_ID,
    attempt: int = 1,
    *,
    step: int = 1,
    artifact_id: str | None = None,
    **meta: Unpack[Meta],
) -> tr.TrainingCheckpointed:
    """A ``train.checkpointed`` event; ``artifact_id`` defaults to
    ``checkpoint_id(job_id, attempt, step)``, as ``report_run``'s checkpoint."""
    return _event(
        tr.TrainingCheckpointed,
        meta,
        job_id,
        attempt=attempt,
        step=step,
        artifact_id=artifact_id
        if artifact_id is not None
        else _checkpoint_id(job_id, attempt, step),
    )


def training_preempted(
    job_id: str = JOB_ID,
    attempt: int = 1,
    *,
    reason: str = "the run died without saying why",
    last_checkpoint: str | None = None,
    **meta: Unpack[Meta],
) -> tr.TrainingPreempted:
    """A ``train.preempted`` event; no checkpoint unless ``last_checkpoint`` is given."""
    return _event(
        tr.TrainingPreempted,
        meta,
        job_id,
        attempt=attempt,
        reason=reason,
        last_checkpoint=last_checkpoint,
    )


def training_resumed(
    job_id: str = JOB_ID,
    attempt: int = 2,
    *,
    from_checkpoint: str | None = None,
    from_step: int | None = None,
    **meta: Unpack[Meta],
) -> tr.TrainingResumed:
    """A ``train.resumed`` event: attempt 2, from the start unless
    ``from_checkpoint`` (and ``from_step``) say otherwise."""
    return _event(
        tr.TrainingResumed,
        meta,
        job_id,
        attempt=attempt,
        from_checkpoint=from_checkpoint,
        from_step=from_step,
    )


def training_completed(
    job_id: str = JOB_ID,
    attempt: int = 1,
    *,
    artifacts: Sequence[tr.TrainingArtifact] | None = None,
    metrics: Mapping[str, float] | None = None,
    record: runs.RunRecord | None = None,
    logs_ref: str | None = None,
    started_at: datetime | None = None,
    ended_at: datetime | None = None,
    **meta: Unpack[Meta],
) -> tr.TrainingCompleted:
    """A ``train.completed`` event: by default one model output,
    ``model.onnx`` at ``model_output_id(job_id)`` (``report_run``'s succeeded),
    ``record`` ``run_record()``, and both times the clock's now."""
    now = clock_of(meta).now()
    if artifacts is None:
        artifacts = [
            tr.TrainingArtifact(
                path=MODEL_OUTPUT, artifact_id=model_output_id(job_id), kind="model"
            )
        ]
    return _event(
        tr.TrainingCompleted,
        meta,
        job_id,
        attempt=attempt,
        artifacts=list(artifacts),
        metrics=dict(metrics or {}),
        record=record if record is not None else run_record(),
        logs_ref=logs_ref,
        started_at=started_at if started_at is not None else now,
        ended_at=ended_at if ended_at is not None else now,
    )


def training_failed(
    job_id: str = JOB_ID,
    attempt: int = 1,
    *,
    reason: str = "the entrypoint raised",
    logs_ref: str | None = None,
    **meta: Unpack[Meta],
) -> tr.TrainingFailed:
    """A ``train.failed`` event."""
    return _event(
        tr.TrainingFailed, meta, job_id, attempt=attempt, reason=reason, logs_ref=logs_ref
    )


def training_cancelled(
    job_id: str = JOB_ID,
    *,
    reason: str = "no longer needed",
    cancelled_by: str | None = None,
    **meta: Unpack[Meta],
) -> tr.TrainingCancelled:
    """A ``train.cancelled`` event; ``cancelled_by`` defaults to the actor, as the
    worker sets it from the cancelling command (``cancel_training``'s reason too)."""
    return _event(
        tr.TrainingCancelled,
        meta,
        job_id,
        reason=reason,
        cancelled_by=cancelled_by if cancelled_by is not None else actor_of(meta),
    )


def training_reproduced(
    job_id: str = "job-2",
    original_job_id: str = JOB_ID,
    *,
    identical: bool | None = None,
    differences: Sequence[tr.RecordDifference] = (),
    differing_outputs: Sequence[str] = (),
    **meta: Unpack[Meta],
) -> tr.TrainingReproduced:
    """A ``train.reproduced`` event for the rerun ``job_id`` of ``original_job_id``;
    ``identical`` defaults to whether no output differs."""
    outputs = strings("differing_outputs", differing_outputs)
    return _event(
        tr.TrainingReproduced,
        meta,
        job_id,
        original_job_id=original_job_id,
        identical=identical if identical is not None else not outputs,
        differences=list(differences),
        differing_outputs=outputs,
    )
