"""The runner: makes the executors do what the dispatches on the log ask, and
tells the training worker what it sees.

Level-triggered, like a Kubernetes controller: every tick it catches its tables up
(``covenant.training._runs``), starts each wanted run its executor does not know
(idempotent on the run id), stops the ones a cancel asked to stop, and observes
the rest. What it observes goes back on the log as ``train.report`` commands,
at least once; the training worker, the jobs' single writer, keeps each fact
once. Outputs and logs become recorded artifacts (``artifact.record``) before a
success is reported, so the registry never sees a model whose bytes it cannot
find. It also keeps the clock the event-driven parts lack: a job that waited on
its pre-train policy past the deadline is expired (fails closed).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from covenant.blobs.protocol import BlobStore
from covenant.bus.protocol import Bus
from covenant.errors import CovenantError
from covenant.events.artifacts import RecordArtifact
from covenant.events.base import SYSTEM_CLOCK, Clock, Message
from covenant.events.codec import Codec
from covenant.events.training import ExpireTraining, ReportRun, RunReportKind
from covenant.runtime.tables import GlobalTables
from covenant.training._reports import completed_shape, run_record_of
from covenant.training._runs import RunTable, WantedRun
from covenant.training.executors.protocol import Executor, RunObservation, RunState
from covenant.training.progress import Progress

log = logging.getLogger(__name__)
PRODUCER = "runner"


@dataclass(frozen=True)
class RunnerSettings:
    """How often the runner looks, and how long a job may wait on its policy."""

    interval_s: float = 0.2
    policy_timeout_s: float = 30.0
    record_retry_s: float = 30.0


@dataclass
class _Seen:
    """What this runner already reported of one run (lost on restart; repeats are
    harmless)."""

    progress: int = 0
    terminal: bool = False
    recorded_at: float | None = None
    logs_ref: str | None = None


@dataclass
class Runner:
    """One runner over some executors (by kind) and the artifact store."""

    bus: Bus
    codec: Codec
    blobs: BlobStore
    executors: Mapping[str, Executor]
    settings: RunnerSettings = field(default_factory=RunnerSettings)
    clock: Clock = SYSTEM_CLOCK
    table: RunTable = field(default_factory=RunTable)
    _seen: dict[str, _Seen] = field(default_factory=dict)
    _stopped: set[str] = field(default_factory=set)
    _expired: set[str] = field(default_factory=set)
    _cancelling: set[asyncio.Task[None]] = field(default_factory=set)

    async def run(self, stop: asyncio.Event) -> None:
        """Reconcile until ``stop`` is set."""
        async with self.bus.table(self.table.topics) as reader:
            tables = GlobalTables(self.table, table=reader, codec=self.codec, worker=PRODUCER)
            await tables.rebuild()
            try:
                while not stop.is_set():
                    await tables.catch_up()
                    await self.tick()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self.settings.interval_s)
            finally:
                await asyncio.gather(*self._cancelling, return_exceptions=True)

    async def tick(self) -> None:
        """One pass over every active run and every job waiting on policy."""
        out: list[Message] = []
        for run in self.table.active():
            try:
                out += await self._reconcile(run)
            except Exception:  # one broken run must not stop the others
                log.exception("runner: run %s could not be reconciled", run.run_id)
        out += self._deadlines()
        if out:
            await self.bus.publish([self.codec.outgoing(m) for m in out])

    async def _reconcile(self, run: WantedRun) -> list[Message]:
        executor = self.executors.get(run.start.executor)
        seen = self._seen.setdefault(run.run_id, _Seen())
        if executor is None:
            if seen.terminal:
                return []
            seen.terminal = True
            known = ", ".join(sorted(self.executors)) or "none"
            reason = f"executor {run.start.executor!r} is not configured here ({known})"
            return [self._report(run, RunReportKind.FAILED, reason=reason)]
        if run.stop or run.start.job_id in self.table.cancelled_jobs:
            if run.run_id not in self._stopped:
                # In the background: stopping a run can take seconds (a grace period,
                # a Ray job's actors), and the other runs' reports must not wait.
                self._stopped.add(run.run_id)
                task = asyncio.create_task(self._cancel(executor, run.run_id))
                self._cancelling.add(task)
                task.add_done_callback(self._cancelling.discard)
            return []
        try:
            seen_now = await executor.observe(run.run_id)
        except KeyError:
            try:
                await executor.start(run.spec())
            except ValueError as exc:  # the executor cannot run this spec at all
                seen.terminal = True
                return [self._report(run, RunReportKind.FAILED, reason=f"cannot start: {exc}")]
            return []
        except ValueError as exc:  # a malformed progress line: never guess at it
            if seen.terminal:
                return []
            seen.terminal = True
            await executor.cancel(run.run_id)
            return [self._report(run, RunReportKind.FAILED, reason=str(exc))]
        return await self._news(run, seen_now, seen, executor)

    async def _cancel(self, executor: Executor, run_id: str) -> None:
        try:
            await executor.cancel(run_id)
        except Exception:  # tried again on the next tick
            log.exception("runner: run %s could not be stopped", run_id)
            self._stopped.discard(run_id)

    async def _news(
        self, run: WantedRun, obs: RunObservation, seen: _Seen, executor: Executor
    ) -> list[Message]:
        out: list[Message] = []
        fresh = obs.progress[seen.progress :]
        for item in fresh:
            out += self._progress(run, item)
        seen.progress = len(obs.progress)
        if obs.state is RunState.RUNNING or seen.terminal:
            return out
        return out + await self._ended(run, obs, seen, executor)

    def _progress(self, run: WantedRun, item: Progress) -> list[Message]:
        if item.kind == "started":
            return [self._report(run, RunReportKind.STARTED, record=run_record_of(item.data))]
        if item.kind == "checkpoint":
            artifact = str(item.data.get("artifact_id", ""))
            step = item.data.get("step")
            return [
                self._report(
                    run,
                    RunReportKind.CHECKPOINT,
                    step=int(step) if isinstance(step, int) else None,
                    artifact_id=artifact,
                )
            ]
        return []

    async def _ended(
        self, run: WantedRun, obs: RunObservation, seen: _Seen, executor: Executor
    ) -> list[Message]:
        if seen.logs_ref is None:  # the log is final once the run ended: store it once
            seen.logs_ref = await self._store_log(executor, run)
        logs_ref = seen.logs_ref
        completed = next((p for p in reversed(obs.progress) if p.kind == "completed"), None)
        if obs.state is RunState.SUCCEEDED and completed is not None:
            return await self._succeeded(run, obs, seen, completed)
        seen.terminal = True
        if obs.state is RunState.LOST:
            reason = f"the run died without finishing (exit code {obs.exit_code})"
            return [self._report(run, RunReportKind.LOST, reason=reason, logs_ref=logs_ref)]
        if obs.state is RunState.CANCELLED:
            return [self._report(run, RunReportKind.CANCELLED, logs_ref=logs_ref)]
        failed = next((p for p in reversed(obs.progress) if p.kind == "failed"), None)
        reason = str(failed.data.get("reason")) if failed else f"exit code {obs.exit_code}"
        return [
            self._report(
                run,
                RunReportKind.FAILED,
                reason=reason,
                logs_ref=logs_ref,
                cpu_seconds=obs.cpu_seconds,
                gpu_seconds=obs.gpu_seconds,
            )
        ]

    async def _succeeded(
        self, run: WantedRun, obs: RunObservation, seen: _Seen, completed: Progress
    ) -> list[Message]:
        """Record the outputs as artifacts, then, once every one is stored, report
        the success; anything wrong with them fails the run instead of waiting."""
        logs_ref = seen.logs_ref
        shape = completed_shape(completed.data)
        if isinstance(shape, str):
            seen.terminal = True
            return [self._report(run, RunReportKind.FAILED, reason=shape, logs_ref=logs_ref)]
        outputs, metrics = shape
        named = {f"{run.start.job_id}/{path}": a for path, a in outputs.items()}
        if logs_ref:
            named[f"{run.start.job_id}/log"] = logs_ref
        now = time.monotonic()
        if seen.recorded_at is None or now - seen.recorded_at > self.settings.record_retry_s:
            # (again, when the records seem lost: a dead-lettered one, a store blip)
            seen.recorded_at = now
            records, missing = await self._record_artifacts(run, named)
            if missing:
                seen.terminal = True
                reason = f"output {missing} is not in the artifact store"
                return [self._report(run, RunReportKind.FAILED, reason=reason, logs_ref=logs_ref)]
            return records
        waiting = [(n, a) for n, a in sorted(named.items()) if a not in self.table.stored]
        refused = [(n, a) for n, a in waiting if (n, a) in self.table.refused]
        if refused:
            seen.terminal = True
            reason = f"output {refused[0][0]} was refused: {self.table.refused[refused[0]]}"
            return [self._report(run, RunReportKind.FAILED, reason=reason, logs_ref=logs_ref)]
        if waiting:
            return []  # the artifacts worker has not recorded them yet
        seen.terminal = True
        return [
            self._report(
                run,
                RunReportKind.SUCCEEDED,
                outputs=outputs,
                metrics=metrics,
                record=run_record_of(completed.data),
                logs_ref=logs_ref,
                cpu_seconds=obs.cpu_seconds,
                gpu_seconds=obs.gpu_seconds,
            )
        ]

    async def _store_log(self, executor: Executor, run: WantedRun) -> str | None:
        try:
            text = await executor.logs(run.run_id)
        except KeyError:
            return None
        stored = await self.blobs.put(
            source=io.BytesIO(text.encode()), media_type="text/plain; charset=utf-8"
        )
        return stored.artifact_id

    async def _record_artifacts(
        self, run: WantedRun, named: Mapping[str, str]
    ) -> tuple[list[Message], str | None]:
        """``artifact.record`` for each output, tagged with the commit and config;
        and the first output that is not stored at all, if any."""
        out: list[Message] = []
        for name, artifact in sorted(named.items()):
            try:
                blob = await self.blobs.stat(artifact)
            except CovenantError:
                blob = None  # a malformed id: not an artifact
            if blob is None:
                return [], name
            out.append(
                RecordArtifact.create(
                    subject=artifact,
                    actor=run.start.meta.actor,
                    producer=PRODUCER,
                    correlation_id=run.start.meta.correlation_id,
                    causation_id=run.start.meta.event_id,
                    clock=self.clock,
                    name=name,
                    media_type=blob.media_type,
                    claimed_sha256=blob.sha256,
                    size_bytes=blob.size,
                    blob_uri=blob.uri,
                    git_commit=run.start.code_commit,
                    run_config={
                        "job": run.start.job_id,
                        "run": run.run_id,
                        "entrypoint": run.start.entrypoint,
                        "seed": str(run.start.seed),
                        **{f"hp.{k}": v for k, v in sorted(run.start.hyperparams.items())},
                    },
                )
            )
        return out, None

    def _report(self, run: WantedRun, kind: RunReportKind, **body: Any) -> ReportRun:
        message: ReportRun = ReportRun.create(
            subject=run.start.job_id,
            actor=run.start.meta.actor,
            producer=PRODUCER,
            correlation_id=run.start.meta.correlation_id,
            causation_id=run.start.meta.event_id,
            clock=self.clock,
            job_id=run.start.job_id,
            attempt=run.start.attempt,
            kind=kind,
            **body,
        )
        return message

    def _deadlines(self) -> list[Message]:
        now = self.clock.now()
        limit = timedelta(seconds=self.settings.policy_timeout_s)
        out: list[Message] = []
        for job_id, (queued_at, correlation) in self.table.awaiting_policy.items():
            if job_id in self._expired or now - queued_at < limit:
                continue
            self._expired.add(job_id)
            out.append(
                ExpireTraining.create(
                    subject=job_id,
                    actor="covenant",
                    producer=PRODUCER,
                    correlation_id=correlation,
                    clock=self.clock,
                    job_id=job_id,
                    waiting_for="pre-train policy",
                )
            )
        return out
