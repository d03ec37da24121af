"""Builders for the training commands and the queued job (``covenant.events.training``).

A job's records all have the job id as their subject (so they share a partition
with its allocation's answers). The defaults are ``runs``'s: ``submit_training()``
is a job the training worker accepts once ``dataset_registered("d1")`` is known,
and ``training_queued()`` the job it queues for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Unpack

from covenant.events import runs
from covenant.events import training as tr
from covenant.events.base import SYSTEM_CLOCK
from covenant.testing._builders._meta import (
    ACTOR,
    PLATFORM_ACTOR,
    Meta,
    actor_of,
    build,
    clock_of,
    sha,
    strings,
)
from covenant.testing._builders.registry import split_model_id
from covenant.testing._builders.runs import (
    CODE_REF,
    DATASETS,
    ENTRYPOINT,
    JOB_ID,
    MODEL_FAMILY,
    TEAM,
    JsonScalar,
    checksums,
    literals,
    run_record,
    split_code_ref,
)
from covenant.training.executors.protocol import run_id_for

MODEL_OUTPUT = "model.onnx"
"""The path of the model a default run writes."""


def checkpoint_id(job_id: str = JOB_ID, attempt: int = 1, step: int = 1) -> str:
    """The artifact id the builders give a checkpoint of one run at one step."""
    return sha(f"checkpoint {run_id_for(job_id, attempt)} step {step}")


def model_output_id(job_id: str = JOB_ID) -> str:
    """The artifact id the builders give the model a job's run writes."""
    return sha(f"model {job_id}")


def _compute(compute: tr.ComputeRequirements | None, pool: str | None) -> tr.ComputeRequirements:
    base = compute if compute is not None else tr.ComputeRequirements()
    return base if pool is None else base.model_copy(update={"pool": pool})


def _target(target: str | None) -> tr.TargetModel | None:
    if target is None:
        return None
    family, version = split_model_id(target)
    return tr.TargetModel(family=family, version=version)


def submit_training(
    job_id: str = JOB_ID,
    *,
    model_family: str = MODEL_FAMILY,
    team: str = TEAM,
    datasets: Sequence[str] = DATASETS,
    code_ref: str = CODE_REF,
    entrypoint: str = ENTRYPOINT,
    hyperparams: Mapping[str, JsonScalar] | None = None,
    seed: int = 0,
    pool: str | None = None,
    compute: tr.ComputeRequirements | None = None,
    max_attempts: int = 3,
    retrain_reason: str | None = None,
    target: str | None = None,
    reproduces: str | None = None,
    **meta: Unpack[Meta],
) -> tr.SubmitTraining:
    """A ``train.submit`` command, as the gateway writes it.

    ``hyperparams`` are JSON scalars, carried as JSON literals
    (``{"lr": 0.01}`` → ``{"lr": "0.01"}``); ``pool`` sets ``compute``'s pool (by
    default a CPU job in any pool that fits); ``target`` is the model id
    (``family:version``) the completed job registers.
    """
    return build(
        tr.SubmitTraining,
        meta,
        subject=job_id,
        producer="gateway",
        job_id=job_id,
        model_family=model_family,
        team=team,
        dataset_refs=strings("datasets", datasets),
        code_ref=code_ref,
        entrypoint=entrypoint,
        hyperparams=literals(hyperparams),
        seed=seed,
        compute=_compute(compute, pool),
        retry_policy=tr.RetryPolicy(max_attempts=max_attempts),
        retrain_reason=retrain_reason,
        target=_target(target),
        reproduces=reproduces,
    )


def training_job(
    job_id: str = JOB_ID,
    *,
    model_family: str = MODEL_FAMILY,
    team: str = TEAM,
    datasets: Sequence[str] = DATASETS,
    code_ref: str = CODE_REF,
    entrypoint: str = ENTRYPOINT,
    hyperparams: Mapping[str, JsonScalar] | None = None,
    seed: int = 0,
    pool: str | None = None,
    compute: tr.ComputeRequirements | None = None,
    max_attempts: int = 3,
    retrain_reason: str | None = None,
    target: str | None = None,
    reproduces: str | None = None,
    dataset_checksums: Mapping[str, str] | None = None,
    created_by: str = ACTOR,
    created_at: datetime | None = None,
) -> tr.TrainingJob:
    """The ``TrainingJob`` of ``submit_training`` with the same keywords: the code
    ref split into repo and commit, each dataset's checksum ``dataset_checksums``'
    or ``sha(id)``, ``created_at`` defaulting to the system clock's now."""
    repo, commit = split_code_ref(code_ref)
    return tr.TrainingJob(
        job_id=job_id,
        model_family=model_family,
        team=team,
        dataset_refs=strings("datasets", datasets),
        code_repo=repo,
        code_commit=commit,
        entrypoint=entrypoint,
        hyperparams=literals(hyperparams),
        seed=seed,
        compute=_compute(compute, pool),
        retry_policy=tr.RetryPolicy(max_attempts=max_attempts),
        retrain_reason=retrain_reason,
        target=_target(target),
        reproduces=reproduces,
        dataset_checksums=checksums(datasets, dataset_checksums),
        created_by=created_by,
        created_at=created_at if created_at is not None else SYSTEM_CLOCK.now(),
    )


def training_queued(
    job_id: str = JOB_ID,
    *,
    job: tr.TrainingJob | None = None,
    model_family: str = MODEL_FAMILY,
    team: str = TEAM,
    datasets: Sequence[str] = DATASETS,
    code_ref: str = CODE_REF,
    entrypoint: str = ENTRYPOINT,
    hyperparams: Mapping[str, JsonScalar] | None = None,
    seed: int = 0,
    pool: str | None = None,
    compute: tr.ComputeRequirements | None = None,
    max_attempts: int = 3,
    retrain_reason: str | None = None,
    target: str | None = None,
    reproduces: str | None = None,
    dataset_checksums: Mapping[str, str] | None = None,
    created_by: str | None = None,
    created_at: datetime | None = None,
    **meta: Unpack[Meta],
) -> tr.TrainingQueued:
    """A ``train.queued`` event, as the training worker writes it for
    ``submit_training`` with the same keywords (see ``training_job``);
    ``created_at`` defaults to the clock's now and ``created_by`` to the actor.
    ``job`` is taken as given instead, the other job keywords then ignored."""
    if job is None:
        job = training_job(
            job_id,
            model_family=model_family,
            team=team,
            datasets=datasets,
            code_ref=code_ref,
            entrypoint=entrypoint,
            hyperparams=hyperparams,
            seed=seed,
            pool=pool,
            compute=compute,
            max_attempts=max_attempts,
            retrain_reason=retrain_reason,
            target=target,
            reproduces=reproduces,
            dataset_checksums=dataset_checksums,
            created_by=created_by if created_by is not None else actor_of(meta),
            created_at=created_at if created_at is not None else clock_of(meta).now(),
        )
    return build(tr.TrainingQueued, meta, subject=job.job_id, producer="training", job=job)


def cancel_training(
    job_id: str = JOB_ID, *, reason: str = "no longer needed", **meta: Unpack[Meta]
) -> tr.CancelTraining:
    """A ``train.cancel`` command, as the gateway writes it."""
    return build(
        tr.CancelTraining, meta, subject=job_id, producer="gateway", job_id=job_id, reason=reason
    )


_REASONS = {
    tr.RunReportKind.FAILED: "the entrypoint raised",
    tr.RunReportKind.LOST: "the run died without saying why",
    tr.RunReportKind.CANCELLED: "cancelled on request",
}


def report_run(
    job_id: str = JOB_ID,
    attempt: int = 1,
    kind: tr.RunReportKind = tr.RunReportKind.STARTED,
    *,
    step: int | None = None,
    artifact_id: str | None = None,
    metrics: Mapping[str, float] | None = None,
    outputs: Mapping[str, str] | None = None,
    record: runs.RunRecord | None = None,
    logs_ref: str | None = None,
    reason: str | None = None,
    cpu_seconds: float | None = None,
    gpu_seconds: float | None = None,
    **meta: Unpack[Meta],
) -> tr.ReportRun:
    """A ``train.report`` command, as the executors' runner writes it (actor
    ``covenant``), with what that ``kind`` of report carries unless given:

    * ``started``: ``record`` ``run_record()``;
    * ``checkpoint``: ``step`` 1 and ``artifact_id`` ``checkpoint_id(job, attempt, step)``;
    * ``metrics``: ``metrics`` ``{"loss": 0.5}``;
    * ``succeeded``: ``record`` ``run_record()`` and ``outputs``
      ``{"model.onnx": model_output_id(job)}``;
    * ``failed``, ``lost``, ``cancelled``: a ``reason``.
    """
    kinds = tr.RunReportKind
    if kind is kinds.CHECKPOINT:
        step = 1 if step is None else step
        artifact_id = (
            artifact_id if artifact_id is not None else checkpoint_id(job_id, attempt, step)
        )
    if record is None and kind in (kinds.STARTED, kinds.SUCCEEDED):
        record = run_record()
    if outputs is None and kind is kinds.SUCCEEDED:
        outputs = {MODEL_OUTPUT: model_output_id(job_id)}
    if metrics is None and kind is kinds.METRICS:
        metrics = {"loss": 0.5}
    return build(
        tr.ReportRun,
        meta,
        subject=job_id,
        producer="runner",
        actor=PLATFORM_ACTOR,
        job_id=job_id,
        attempt=attempt,
        kind=kind,
        step=step,
        artifact_id=artifact_id,
        metrics=dict(metrics or {}),
        outputs=dict(outputs or {}),
        record=record,
        logs_ref=logs_ref,
        reason=reason if reason is not None else _REASONS.get(kind),
        cpu_seconds=cpu_seconds,
        gpu_seconds=gpu_seconds,
    )


def expire_training(
    job_id: str = JOB_ID, *, waiting_for: str = "policy", **meta: Unpack[Meta]
) -> tr.ExpireTraining:
    """A ``train.expire`` command: the training worker's deadline for a job still
    waiting on ``waiting_for`` (its policy decision) passed; actor ``covenant``."""
    return build(
        tr.ExpireTraining,
        meta,
        subject=job_id,
        producer="training",
        actor=PLATFORM_ACTOR,
        job_id=job_id,
        waiting_for=waiting_for,
    )
