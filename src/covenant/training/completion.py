"""What a finished run leaves behind: its artifacts tagged by kind, the draft
model version its job names, and, for a rerun, whether it made the same bytes.

A run that wrote a drift reference profile (``TrainingContext.record_profile``)
links it to the version it registers: the profile's artifact id is the version's
``provenance["drift_profile"]``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from covenant.events.registry import ModelLineage, RegisterModel
from covenant.events.training import (
    ReportRun,
    TrainingArtifact,
    TrainingCompleted,
    TrainingReproduced,
)
from covenant.runtime.worker import Context
from covenant.training import reproduction
from covenant.training.executors.protocol import run_id_for
from covenant.training.jobs import Job, TrainingState
from covenant.training.sdk import PROFILE_OUTPUT

#: The provenance key of a model version that names its training profile.
DRIFT_PROFILE_KEY = "drift_profile"


def artifact_kind(path: str) -> str:
    """How an output is tagged: ``model*`` files are the model (the first one, in
    path order, is what a target version registers), ``metrics*`` the metrics."""
    name = path.rsplit("/", 1)[-1]
    if name.startswith("model"):
        return "model"
    if name.startswith("metrics"):
        return "metrics"
    return "output"


def completed_body(job: Job, report: ReportRun) -> dict[str, Any]:
    """The ``train.completed`` body: outputs, every checkpoint of every attempt,
    and the log, each content-addressed."""
    artifacts = [
        TrainingArtifact(path=path, artifact_id=artifact, kind=artifact_kind(path))
        for path, artifact in sorted(report.outputs.items())
    ]
    artifacts += [
        TrainingArtifact(path=f"checkpoints/{step}", artifact_id=artifact, kind="checkpoint")
        for attempt in sorted(job.checkpoints)
        for step, artifact in sorted(job.checkpoints[attempt].items())
    ]
    if report.logs_ref:
        artifacts.append(TrainingArtifact(path="log", artifact_id=report.logs_ref, kind="logs"))
    started_at: datetime = job.started_at or report.meta.occurred_at
    return {
        "job_id": job.spec.job_id,
        "attempt": report.attempt,
        "artifacts": artifacts,
        "metrics": report.metrics,
        "record": report.record,
        "logs_ref": report.logs_ref,
        "started_at": started_at,
        "ended_at": report.meta.occurred_at,
    }


def register(ctx: Context, job: Job, completed: TrainingCompleted) -> None:
    """Ask the registry for the job's target version (draft), with the run record
    as provenance (and the training profile, when the run wrote one); nothing when
    the job names none or made no model file."""
    target = job.spec.target
    models = [a for a in completed.artifacts if a.kind == "model"]
    if target is None or not models:
        return
    record = completed.record
    profile = next((a for a in completed.artifacts if a.path == PROFILE_OUTPUT), None)
    linked = {DRIFT_PROFILE_KEY: profile.artifact_id} if profile is not None else {}
    ctx.emit(
        RegisterModel,
        subject=f"model:{target.family}:{target.version}",
        family=target.family,
        version=target.version,
        code_ref=f"{record.code_repo}#{record.code_commit}",
        artifact_id=models[0].artifact_id,
        metrics=completed.metrics,
        lineage=ModelLineage(dataset_refs=list(job.spec.dataset_refs)),
        provenance={
            "trainingJob": job.spec.job_id,
            "runId": run_id_for(job.spec.job_id, completed.attempt),
            "codeCommit": record.code_commit,
            "dependenciesSha256": record.environment.dependencies_sha256,
            "hardwareClass": record.hardware_class,
            "seed": str(record.seed),
            "trainingEvent": completed.meta.event_id,
            **linked,
        },
    )


def reproduced(ctx: Context, state: TrainingState, job: Job, completed: TrainingCompleted) -> None:
    """For a rerun: the verdict against the job it reproduces."""
    original_id = job.spec.reproduces
    original = state.jobs.get(original_id) if original_id else None
    if original is None or original.completed is None:
        return
    verdict = reproduction.compare(original.completed, completed)
    ctx.emit(
        TrainingReproduced,
        job_id=job.spec.job_id,
        original_job_id=original.spec.job_id,
        identical=verdict.identical,
        differences=verdict.differences,
        differing_outputs=verdict.differing_outputs,
    )
