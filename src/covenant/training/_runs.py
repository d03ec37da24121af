"""What the runner knows: the runs it was asked for, and which of them ended.

Folded from the run dispatches (``covenant.cmd.run``), the job facts and the
artifact facts, as global tables. Level-triggered on purpose: a run that is
wanted and has not ended is started if its executor does not know it and
observed if it does, so a runner killed at any moment and restarted starts
nothing twice and loses nothing (the executors' ``start`` is idempotent on the
run id).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from covenant.events.artifacts import ArtifactRejected, ArtifactStored
from covenant.events.base import Message
from covenant.events.runs import StartRun, StopRun
from covenant.events.training import (
    TrainingCancelled,
    TrainingCleared,
    TrainingCompleted,
    TrainingFailed,
    TrainingPreempted,
    TrainingQueued,
    TrainingRejected,
)
from covenant.topics import ARTIFACT_EVENTS, RUN_COMMANDS, TRAIN_EVENTS, Topic
from covenant.training.executors.protocol import DatasetInput, RunSpec, run_id_for
from covenant.training.jobs import refuses_a_duplicate


@dataclass
class WantedRun:
    """One dispatched attempt."""

    start: StartRun
    stop: bool = False

    @property
    def run_id(self) -> str:
        return run_id_for(self.start.job_id, self.start.attempt)

    def spec(self) -> RunSpec:
        command = self.start
        return RunSpec(
            job_id=command.job_id,
            attempt=command.attempt,
            code_repo=command.code_repo,
            code_commit=command.code_commit,
            entrypoint=command.entrypoint,
            datasets=tuple(
                DatasetInput(name=d.dataset_id, artifact_id=d.artifact_id, checksum=d.checksum)
                for d in command.datasets
            ),
            hyperparams={k: json.loads(v) for k, v in command.hyperparams.items()},
            seed=command.seed,
            resume_from=command.resume_from,
            workers=command.workers,
            cpus=command.cpus,
            gpus=command.gpus,
        )


@dataclass
class RunTable:
    """Wanted runs, ended runs, jobs waiting on policy, and recorded artifacts."""

    topics: tuple[Topic, ...] = (RUN_COMMANDS, TRAIN_EVENTS, ARTIFACT_EVENTS)
    wanted: dict[str, WantedRun] = field(default_factory=dict)
    ended: set[str] = field(default_factory=set)
    cancelled_jobs: set[str] = field(default_factory=set)
    awaiting_policy: dict[str, tuple[datetime, str]] = field(default_factory=dict)
    stored: set[str] = field(default_factory=set)
    refused: dict[tuple[str, str], str] = field(default_factory=dict)

    def reset(self) -> None:
        for part in (self.wanted, self.awaiting_policy, self.refused):
            part.clear()
        for ids in (self.ended, self.cancelled_jobs, self.stored):
            ids.clear()

    def active(self) -> list[WantedRun]:
        """Runs to start, observe or stop, oldest dispatch first."""
        return [run for run in self.wanted.values() if run.run_id not in self.ended]

    def apply(self, message: Message) -> None:
        if isinstance(message, StartRun):
            self.wanted.setdefault(run_id_for(message.job_id, message.attempt), WantedRun(message))
        elif isinstance(message, StopRun):
            run = self.wanted.get(run_id_for(message.job_id, message.attempt))
            if run is not None:
                run.stop = True
        elif isinstance(message, TrainingCompleted | TrainingFailed | TrainingPreempted):
            self.ended.add(run_id_for(message.job_id, message.attempt))
        elif isinstance(message, TrainingCancelled):
            self.cancelled_jobs.add(message.job_id)
            self.awaiting_policy.pop(message.job_id, None)
        elif isinstance(message, TrainingQueued):
            self.awaiting_policy.setdefault(
                message.job.job_id, (message.meta.occurred_at, message.meta.correlation_id)
            )
        elif isinstance(message, TrainingRejected):
            if not refuses_a_duplicate(message):  # a refused second submit leaves the first
                self.awaiting_policy.pop(message.job_id, None)
        elif isinstance(message, TrainingCleared):
            self.awaiting_policy.pop(message.job_id, None)
        elif isinstance(message, ArtifactStored):
            self.stored.add(message.artifact_id)
        elif isinstance(message, ArtifactRejected):
            self.refused[(message.name, f"sha256:{message.claimed_sha256}")] = message.reason
