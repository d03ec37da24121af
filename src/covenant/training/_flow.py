"""What each answer and observation does to a job: the training worker's steps
after the submit, one method per input type (see ``covenant.training.worker``)."""

from __future__ import annotations

from datetime import datetime

from covenant.events.allocation import (
    AllocationDenied,
    AllocationGranted,
    AllocationReleased,
    AllocationRequested,
)
from covenant.events.finance import ChargebackRecorded, UsageRecorded
from covenant.events.policy import PolicyDecided, PolicyStage
from covenant.events.refusals import Refusal, RefusalCode, messages
from covenant.events.runs import RunDataset, StartRun, StopRun
from covenant.events.training import (
    CancelTraining,
    ExpireTraining,
    ReportRun,
    RunReportKind,
    TrainingAllocated,
    TrainingCancelled,
    TrainingCheckpointed,
    TrainingCleared,
    TrainingCompleted,
    TrainingFailed,
    TrainingPreempted,
    TrainingRejected,
    TrainingResumed,
    TrainingStarted,
)
from covenant.runtime.worker import Context
from covenant.training import accounting, completion
from covenant.training.executors.protocol import run_id_for
from covenant.training.jobs import Job, TrainingState
from covenant.training.pools import Pools, fit


def reject(ctx: Context, job_id: str, refusals: list[Refusal]) -> None:
    ctx.emit(TrainingRejected, job_id=job_id, reasons=messages(refusals), refusals=refusals)


class Flow:
    """The steps of one batch item; emits through ``ctx``, reads ``state``."""

    def __init__(
        self, ctx: Context, state: TrainingState, *, pools: Pools, default_executor: str
    ) -> None:
        self.ctx = ctx
        self.state = state
        self.pools = pools
        self.default_executor = default_executor

    def _waiting(self, job_id: str) -> Job | None:
        job = self.state.jobs.get(job_id)
        if job is None or job.cleared or job.terminal:
            return None
        return job

    def on_policy(self, decided: PolicyDecided) -> None:
        if decided.stage is not PolicyStage.PRE_TRAIN:
            return
        job = self._waiting(decided.subject_id)
        if job is None:
            return
        if not decided.allowed:
            refusals = decided.refusals or [
                Refusal(
                    code=RefusalCode.POLICY,
                    message=f"pre-train policy {decided.policy_version} refused the job",
                )
            ]
            reject(self.ctx, job.spec.job_id, refusals)
            return
        chosen = fit(self.pools, job.spec.compute, team=job.spec.team)
        if isinstance(chosen, list):  # the pools changed since the submit
            reject(self.ctx, job.spec.job_id, chosen)
            return
        compute = job.spec.compute
        self.ctx.emit(
            TrainingCleared,
            job_id=job.spec.job_id,
            policy_version=decided.policy_version,
            decision_id=decided.meta.event_id,
            pool=chosen.name,
        )
        self.ctx.emit(
            AllocationRequested,
            subject=chosen.name,
            allocation_id=job.spec.job_id,
            pool=chosen.name,
            team=job.spec.team,
            accelerator=compute.accelerator,
            accelerators=compute.accelerators,
            cpus=compute.cpus,
            memory_gb=compute.memory_gb,
        )

    def on_expired(self, expired: ExpireTraining) -> None:
        job = self._waiting(expired.job_id)
        if job is not None:
            reject(
                self.ctx,
                job.spec.job_id,
                [
                    Refusal(
                        code=RefusalCode.POLICY,
                        message=f"no {expired.waiting_for} answer in time; failing closed",
                    )
                ],
            )

    def on_denied(self, denied: AllocationDenied) -> None:
        job = self.state.jobs.get(denied.allocation_id)
        if job is None or job.allocation is not None or job.terminal:
            return
        refusals = denied.refusals or [
            Refusal(code=RefusalCode.QUOTA, message="; ".join(denied.reasons))
        ]
        reject(self.ctx, job.spec.job_id, refusals)

    def on_granted(self, granted: AllocationGranted) -> None:
        job = self.state.jobs.get(granted.allocation_id)
        if job is not None and job.terminal and job.allocation is None:
            # Granted after the job ended (a cancel crossed the grant, or an external
            # allocator answered late): give it back, or the pool stays held.
            self.ctx.emit(
                AllocationReleased,
                subject=granted.pool,
                allocation_id=granted.allocation_id,
                pool=granted.pool,
                team=granted.team,
            )
            return
        if job is None or job.allocation is not None or job.terminal:
            return  # a repeat, or not ours
        self.ctx.emit(
            TrainingAllocated,
            job_id=job.spec.job_id,
            pool=granted.pool,
            accelerator=granted.accelerator,
            accelerators=granted.accelerators,
            hardware_class=granted.hardware_class,
            cost_rate=granted.cost_rate,
            currency=granted.currency,
        )
        self._dispatch(job, attempt=1, resume_from=None)

    def _dispatch(self, job: Job, *, attempt: int, resume_from: str | None) -> None:
        spec = job.spec
        self.ctx.emit(
            StartRun,
            job_id=spec.job_id,
            attempt=attempt,
            executor=spec.compute.executor or self.default_executor,
            code_repo=spec.code_repo,
            code_commit=spec.code_commit,
            entrypoint=spec.entrypoint,
            datasets=[
                RunDataset(dataset_id=ref, artifact_id=checksum, checksum=checksum)
                for ref, checksum in sorted(spec.dataset_checksums.items())
            ],
            hyperparams=spec.hyperparams,
            seed=spec.seed,
            resume_from=resume_from,
            workers=spec.compute.workers,
            cpus=spec.compute.cpus,
            gpus=spec.compute.accelerators / max(1, spec.compute.workers),  # per worker
        )

    def on_cancel(self, command: CancelTraining) -> None:
        job = self.state.jobs.get(command.job_id)
        if job is None or job.terminal:
            return
        self.ctx.emit(
            TrainingCancelled,
            job_id=job.spec.job_id,
            reason=command.reason or "cancelled on request",
            cancelled_by=command.meta.actor,
        )
        if job.attempt > 0:
            self.ctx.emit(
                StopRun,
                job_id=job.spec.job_id,
                attempt=job.attempt,
                executor=job.spec.compute.executor or self.default_executor,
                reason="job cancelled",
            )
        self._release(job, ended_at=command.meta.occurred_at, report=None)

    def on_report(self, report: ReportRun) -> None:
        job = self.state.jobs.get(report.job_id)
        if job is None or job.terminal or report.attempt != job.attempt:
            return
        if report.attempt in job.ended:
            return
        kind = report.kind
        if kind is RunReportKind.STARTED and report.attempt not in job.started:
            self.ctx.emit(
                TrainingStarted,
                job_id=job.spec.job_id,
                attempt=report.attempt,
                run_id=run_id_for(job.spec.job_id, report.attempt),
                executor=job.spec.compute.executor or self.default_executor,
                record=report.record,
            )
        elif kind is RunReportKind.CHECKPOINT and report.step is not None and report.artifact_id:
            if report.step not in job.checkpoints.get(report.attempt, {}):
                self.ctx.emit(
                    TrainingCheckpointed,
                    job_id=job.spec.job_id,
                    attempt=report.attempt,
                    step=report.step,
                    artifact_id=report.artifact_id,
                )
        elif kind is RunReportKind.SUCCEEDED:
            self._completed(job, report)
        elif kind in (RunReportKind.FAILED, RunReportKind.CANCELLED):
            reason = report.reason or (
                "the run was stopped outside Covenant"
                if kind is RunReportKind.CANCELLED
                else "the run failed"
            )
            self._failed(job, report, reason)
        elif kind is RunReportKind.LOST:
            self._preempted(job, report)

    def _preempted(self, job: Job, report: ReportRun) -> None:
        last = job.last_checkpoint()
        self.ctx.emit(
            TrainingPreempted,
            job_id=job.spec.job_id,
            attempt=report.attempt,
            reason=report.reason or "the run died without finishing",
            last_checkpoint=last[1] if last else None,
        )
        if report.attempt >= job.spec.retry_policy.max_attempts:
            self._failed(
                job,
                report,
                f"preempted {report.attempt} times; the retry policy allows "
                f"{job.spec.retry_policy.max_attempts} attempts",
            )
            return
        self.ctx.emit(
            TrainingResumed,
            job_id=job.spec.job_id,
            attempt=report.attempt + 1,
            from_checkpoint=last[1] if last else None,
            from_step=last[0] if last else None,
        )
        self._dispatch(job, attempt=report.attempt + 1, resume_from=last[1] if last else None)

    def _failed(self, job: Job, report: ReportRun, reason: str) -> None:
        self.ctx.emit(
            TrainingFailed,
            job_id=job.spec.job_id,
            attempt=report.attempt,
            reason=reason,
            logs_ref=report.logs_ref,
        )
        self._release(job, ended_at=report.meta.occurred_at, report=report)

    def _completed(self, job: Job, report: ReportRun) -> None:
        if report.record is None:
            self._failed(job, report, "the run ended without a run record")
            return
        completed = self.ctx.emit(TrainingCompleted, **completion.completed_body(job, report))
        self._release(job, ended_at=report.meta.occurred_at, report=report)
        completion.register(self.ctx, job, completed)
        completion.reproduced(self.ctx, self.state, job, completed)

    def _release(self, job: Job, *, ended_at: datetime, report: ReportRun | None) -> None:
        spec = job.spec
        if job.allocation_requested and not job.released:
            named = job.allocation.pool if job.allocation else job.requested_pool
            pool = named or _pool_of(self.pools, job)
            self.ctx.emit(
                AllocationReleased,
                subject=pool,
                allocation_id=spec.job_id,
                pool=pool,
                team=spec.team,
            )
        if job.allocation is None:
            return
        held = job.allocation
        usage, charge = accounting.usage_and_chargeback(
            accounting.JobUsage(
                job_id=spec.job_id,
                team=spec.team,
                model_family=spec.model_family,
                pool=held.pool,
                accelerator=held.accelerator,
                accelerators=held.accelerators,
                cpus=spec.compute.cpus,
                cost_rate=held.cost_rate,
                currency=held.currency,
                granted_at=held.granted_at,
                released_at=max(ended_at, held.granted_at),
                measured_cpu_seconds=report.cpu_seconds if report else None,
                measured_gpu_seconds=report.gpu_seconds if report else None,
            )
        )
        self.ctx.emit(UsageRecorded, subject=spec.job_id, **usage)
        self.ctx.emit(ChargebackRecorded, subject=spec.job_id, **charge)


def _pool_of(pools: Pools, job: Job) -> str:
    chosen = fit(pools, job.spec.compute, team=job.spec.team)
    return job.spec.compute.pool or "" if isinstance(chosen, list) else chosen.name
