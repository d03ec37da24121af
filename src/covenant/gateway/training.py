"""Training jobs over HTTP: submit, read, cancel, rerun, and the run's log.

Writes are commands like every other (``train.submit``, ``train.cancel``): 202
with a status link, or with ``?wait`` the training worker's answer (201 with the
queued job, or a problem from the refusal codes: a branch instead of a commit or
an unknown dataset is 422, a job id in use 409). The gateway checks only the
body's shape; every rule is the worker's (``covenant.training.decisions``).

Reads answer from ``covenant.gateway.jobs``: the worker's own fold of the train
and dataset events, held in memory, rebuilt from the log when the gateway starts
and caught up before every read, so a read after a 201 sees the job. Cancel and
rerun read it too, to answer 404 for an unknown job and 409 for one that cannot
be cancelled (it ended) or rerun (it did not complete) before anything is
published; the worker still decides (a cancel that races the job's end is a no-op
there).

A job id is the caller's or made here: ``job-<uuid7>``, or, with an
``Idempotency-Key``, derived from the actor and the key, so that a retried submit
names the same job and the worker recognises it as a retry.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import Field, field_validator

from covenant.events.base import Message, new_event_id
from covenant.events.training import (
    CancelTraining,
    ComputeRequirements,
    JobStatus,
    RetryPolicy,
    SubmitTraining,
    TargetModel,
)
from covenant.gateway.commands import _Body
from covenant.gateway.context import (
    Actor,
    Gateway,
    IdempotencyKey,
    Wait,
    json_response,
    problem_responses,
    read_route,
)
from covenant.gateway.job_documents import (
    TrainingAcceptedDoc,
    TrainingCancelledDoc,
    TrainingJobDoc,
)
from covenant.gateway.jobs import Jobs, JobView
from covenant.gateway.problems import Problem
from covenant.training.decisions import has_credentials
from covenant.training.jobs import TERMINAL

TAG = "training"
_JSON = "application/json"


class SubmitTrainingBody(_Body):
    """A job to run: ``train.submit`` without its metadata; ``jobId`` optional."""

    job_id: str | None = Field(
        default=None, description="1-128 of [A-Za-z0-9._-]; default: one is made"
    )
    model_family: str
    team: str = Field(description="who is charged and whose quota it draws on")
    dataset_refs: list[str] = Field(description="registered dataset ids")
    code_ref: str = Field(description="repo#commit; the commit is a full 40-hex id")
    entrypoint: str = Field(description="module:function inside the code")
    hyperparams: dict[str, str] = Field(
        default_factory=dict, description='JSON literals: "0.01", "10", "\\"adam\\""'
    )
    seed: int = 0
    compute: ComputeRequirements = Field(default_factory=ComputeRequirements)
    retry_policy: RetryPolicy = Field(default_factory=RetryPolicy)
    retrain_reason: str | None = None
    target: TargetModel | None = Field(
        default=None, description="the model version a completed job registers (draft)"
    )
    reproduces: str | None = Field(
        default=None, description="the completed job this one re-runs to verify it"
    )

    @field_validator("code_ref")
    @classmethod
    def _no_credentials(cls, value: str) -> str:
        # Refused here, before anything is published: the log keeps what it is given
        # forever, and a token in a URL would be in it.
        if has_credentials(value):
            raise ValueError(
                "codeRef carries credentials in its URL; give the repository without them "
                "and let the executor's git credentials fetch it"
            )
        return value


class CancelTrainingBody(_Body):
    """Why the job is stopped (recorded on ``train.cancelled``)."""

    reason: str = ""


def new_job_id(actor: str, idempotency_key: str | None) -> str:
    """A fresh job id; the same one for a retry with the same key."""
    if idempotency_key is None:
        return f"job-{new_event_id()}"
    digest = hashlib.sha256(f"{actor}\n{idempotency_key}".encode()).hexdigest()
    return f"job-{digest[:32]}"


def _unknown(job_id: str) -> Problem:
    return Problem(
        404,
        "not-found",
        f"no training job {job_id!r} was submitted (a job refused at submit is known by "
        "its id as rejected)",
        title="No such training job",
    )


_WRITES: dict[int | str, dict[str, Any]] = {
    201: {"model": TrainingJobDoc, "description": "Decided (with ?wait)"},
    202: {"model": TrainingAcceptedDoc, "description": "Accepted; poll the status link"},
}


def add_training_routes(router: APIRouter, gateway: Gateway, jobs: Jobs) -> None:
    """Add ``/train/jobs`` and its reads, cancel, rerun and logs."""
    producer = gateway.config.producer

    async def known(job_id: str) -> JobView:
        view = await jobs.get(job_id)
        if view is None:
            raise _unknown(job_id)
        return view

    async def publish(
        request: Request, command: Message, job_id: str, wait: float | None
    ) -> Response:
        outcome = await gateway.submit(command, wait_s=gateway.wait_seconds(wait))
        if outcome is not None:
            return gateway.answer(request, command, outcome)
        command_id = command.meta.event_id
        status_url = str(request.url_for("get_command", command_id=command_id))
        doc = TrainingAcceptedDoc(
            job_id=job_id,
            command_id=command_id,
            status_url=status_url,
            job_url=str(request.url_for("get_training_job", job_id=job_id)),
        )
        body = doc.model_dump(mode="json", by_alias=True)
        return json_response(body, 202, headers={"Location": status_url})

    @router.post(
        "/train/jobs",
        name="submit_training",
        tags=[TAG],
        summary="Submit a training job",
        description="Publishes `train.submit`. The training worker refuses it at once "
        "with every reason (a branch or tag instead of a commit, an unknown dataset, an "
        "entrypoint that is not `module:function`, compute no pool can give) or queues it "
        "for the pre-train policy and compute; `?wait` answers with that decision.",
        status_code=202,
        responses={**_WRITES, **problem_responses(403, 409, 422, 500, 503)},
    )
    async def submit_training(
        request: Request,
        body: SubmitTrainingBody,
        wait: Wait = None,
        actor: Actor = "anonymous",
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        job_id = body.job_id or new_job_id(actor, idempotency_key)
        command = SubmitTraining.create(
            subject=job_id,
            actor=actor,
            producer=producer,
            idempotency_key=idempotency_key,
            job_id=job_id,
            **body.model_dump(exclude={"job_id"}),
        )
        return await publish(request, command, job_id, wait)

    @read_route(router, "/train/jobs/{job_id}", TAG, TrainingJobDoc, 404, 503)
    async def get_training_job(job_id: str) -> Response:
        """A training job: its status as its events add up, and what it made.

        `job` is the TrainingJob as submitted and recorded (the commit, the data's
        checksums); then the allocation (pool, hardware class), every attempt with its
        checkpoints, `startTs`/`endTs`, the run record, `logsRef`, `artifactRefs`,
        `metrics`, and for a rerun the reproduction verdict. Read after every event
        committed before the request, so a job answered 201 is always found."""
        doc = TrainingJobDoc.of(await known(job_id))
        return Response(doc.json_bytes(), media_type=_JSON)

    @router.post(
        "/train/jobs/{job_id}/cancel",
        name="cancel_training",
        tags=[TAG],
        summary="Cancel a training job",
        description="Publishes `train.cancel`: the run is stopped, its allocation "
        "released, nothing it made is registered. 404 for an unknown job, 409 for one "
        "that already ended; `?wait` answers 201 with `train.cancelled`.",
        status_code=202,
        responses={
            201: {"model": TrainingCancelledDoc, "description": "Cancelled (with ?wait)"},
            202: _WRITES[202],
            **problem_responses(404, 409, 503),
        },
    )
    async def cancel_training(
        request: Request,
        job_id: str,
        body: CancelTrainingBody | None = None,
        wait: Wait = None,
        actor: Actor = "anonymous",
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        view = await known(job_id)
        if view.status in TERMINAL:
            raise Problem(
                409,
                "conflict",
                f"job {job_id!r} already ended ({view.status.value}); there is nothing to cancel",
                title="Job already ended",
            )
        command = CancelTraining.create(
            subject=job_id,
            actor=actor,
            producer=producer,
            correlation_id=view.extras.correlation_id,  # one flow: `covenant trace JOB`
            idempotency_key=idempotency_key,
            job_id=job_id,
            reason=body.reason if body is not None else "",
        )
        return await publish(request, command, job_id, wait)

    @router.post(
        "/train/jobs/{job_id}/rerun",
        name="rerun_training",
        tags=[TAG],
        summary="Run a completed job again",
        description="Publishes a new `train.submit` with the recorded inputs of a "
        "completed job: the same commit, entrypoint, datasets, seed, hyperparameters, "
        "compute, retry policy, team and family, and no target (a rerun registers no "
        "model). With `verify` (the default) it names the original in `reproduces`, and "
        "when it completes the worker writes whether it made the same bytes "
        "(`reproduction` on the new job). 409 unless the original completed.",
        status_code=202,
        responses={**_WRITES, **problem_responses(404, 409, 422, 503)},
    )
    async def rerun_training(
        request: Request,
        job_id: str,
        verify: Annotated[
            bool, Query(description="compare the rerun's outputs with the original's")
        ] = True,
        wait: Wait = None,
        actor: Actor = "anonymous",
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        view = await known(job_id)
        if view.job is None or view.status is not JobStatus.COMPLETED:
            raise Problem(
                409,
                "conflict",
                f"job {job_id!r} is {view.status.value}; only a completed job can be rerun "
                "(its run record is what the rerun repeats)",
                title="Job not completed",
            )
        spec = view.job.spec
        rerun_id = new_job_id(actor, idempotency_key)
        command = SubmitTraining.create(
            subject=rerun_id,
            actor=actor,
            producer=producer,
            idempotency_key=idempotency_key,
            job_id=rerun_id,
            model_family=spec.model_family,
            team=spec.team,
            dataset_refs=list(spec.dataset_refs),
            code_ref=f"{spec.code_repo}#{spec.code_commit}",
            entrypoint=spec.entrypoint,
            hyperparams=dict(spec.hyperparams),
            seed=spec.seed,
            compute=spec.compute,
            retry_policy=spec.retry_policy,
            retrain_reason=f"rerun of {job_id}",
            reproduces=job_id if verify else None,
        )
        return await publish(request, command, rerun_id, wait)

    @router.get(
        "/train/jobs/{job_id}/logs",
        name="get_training_logs",
        tags=[TAG],
        summary="A training job's log",
        description="The stored log of the job's run (`logsRef`), as text. 404 for an "
        "unknown job or one whose run left no log yet (it is stored when the run ends).",
        response_class=StreamingResponse,
        responses={
            200: {"content": {"text/plain": {}}, "description": "The log"},
            **problem_responses(404, 503),
        },
    )
    async def get_training_logs(job_id: str) -> Response:
        view = await known(job_id)
        logs_ref = view.extras.logs_ref
        if logs_ref is None:
            raise Problem(
                404,
                "not-found",
                f"job {job_id!r} ({view.status.value}) has no stored log yet; a run's log "
                "is stored when the run ends",
                title="No log",
            )
        chunks = await gateway.blobs.open(logs_ref)
        return StreamingResponse(
            chunks, media_type="text/plain; charset=utf-8", headers={"X-Logs-Ref": logs_ref}
        )
