"""The training worker: the single writer of every job's facts.

It consumes the job's commands and the answers about it (policy decisions,
allocation answers), all keyed by the job id on co-partitioned topics, so one
instance decides each job (see the Kafka bus's range assignor). The flow:

``train.submit`` → refused at once (``train.rejected``) or ``train.queued`` and a
pre-train ``policy.requested`` → ``policy.decided``: ``train.cleared`` and an
``allocation.requested`` in the job's pool, or refused → ``allocation.granted``:
``train.allocated`` and a ``run.start`` → what the runner observes of the run
(``train.report``): started, checkpointed, preempted then resumed from the last
checkpoint (per the retry policy), completed (artifacts, run record, a draft model
version when the job names one, the allocation released, usage and chargeback to
Finance) or failed.

Observations repeat (the runner reports at least once); the state tells a repeat
from news, so each fact is written once.
"""

from __future__ import annotations

from collections.abc import Collection

from covenant.events.allocation import (
    AllocationDenied,
    AllocationFreed,
    AllocationGranted,
    AllocationQueued,
)
from covenant.events.base import Message
from covenant.events.policy import PolicyDecided, PolicyStage, RequestPolicy
from covenant.events.training import (
    CancelTraining,
    ExpireTraining,
    ReportRun,
    SubmitTraining,
    TrainingQueued,
)
from covenant.runtime.worker import Context, Worker
from covenant.topics import (
    ALLOCATION_COMMANDS,
    ALLOCATION_EVENTS,
    FINANCE_EVENTS,
    MODEL_COMMANDS,
    POLICY_COMMANDS,
    POLICY_EVENTS,
    RUN_COMMANDS,
    TRAIN_COMMANDS,
    TRAIN_EVENTS,
)
from covenant.training import decisions
from covenant.training._flow import Flow, reject
from covenant.training.jobs import TrainingState
from covenant.training.pools import Pools, fit


def make_training_worker(
    *, pools: Pools, executors: Collection[str], default_executor: str = "local"
) -> Worker:
    """The ``training`` worker over ``pools`` and the configured executor kinds."""
    state = TrainingState()

    async def handle(message: Message, ctx: Context) -> None:
        flow = Flow(ctx, state, pools=pools, default_executor=default_executor)
        if isinstance(message, SubmitTraining):
            _submit(message, ctx, state, pools, executors)
        elif isinstance(message, PolicyDecided):
            flow.on_policy(message)
        elif isinstance(message, ExpireTraining):
            flow.on_expired(message)
        elif isinstance(message, AllocationGranted):
            flow.on_granted(message)
        elif isinstance(message, AllocationDenied):
            flow.on_denied(message)
        elif isinstance(message, ReportRun):
            flow.on_report(message)
        elif isinstance(message, CancelTraining):
            flow.on_cancel(message)
        # allocation.queued and allocation.freed change nothing the job decides on:
        # a queued job simply stays queued until its grant arrives.

    return Worker(
        name="training",
        inputs=(TRAIN_COMMANDS, POLICY_EVENTS, ALLOCATION_EVENTS),
        outputs=(
            TRAIN_EVENTS,
            POLICY_COMMANDS,
            ALLOCATION_COMMANDS,
            RUN_COMMANDS,
            FINANCE_EVENTS,
            MODEL_COMMANDS,
        ),
        accepts=(
            SubmitTraining,
            CancelTraining,
            ReportRun,
            ExpireTraining,
            PolicyDecided,
            AllocationGranted,
            AllocationQueued,
            AllocationDenied,
            AllocationFreed,
        ),
        handle=handle,
        description="training jobs: validate, clear by policy, allocate, dispatch, account",
        state=state,
    )


def _submit(
    command: SubmitTraining,
    ctx: Context,
    state: TrainingState,
    pools: Pools,
    executors: Collection[str],
) -> None:
    if state.decided(command.job_id, command.meta.idempotency_key):
        return  # a client's retry of a submit already decided
    chosen = fit(pools, command.compute, team=command.team)
    pool_refusals = chosen if isinstance(chosen, list) else []
    refusals = decisions.submit_refusals(
        command, state, pool_refusals=pool_refusals, executors=executors
    )
    if refusals:
        reject(ctx, command.job_id, refusals)
        return
    job = decisions.queued_job(command, state)
    ctx.emit(TrainingQueued, job=job)
    ctx.emit(
        RequestPolicy,
        stage=PolicyStage.PRE_TRAIN,
        subject_id=job.job_id,
        input_json=decisions.policy_input(job, state),
    )


__all__ = ["make_training_worker"]
