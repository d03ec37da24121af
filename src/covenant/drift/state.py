"""What the drift worker decides on, folded from the fact topics.

From other capabilities: each deployment's latest record (which model a sample's
deployment serves), each model's reference profile (its latest evaluation's), the
models' registry entries and training jobs (a retrain's lineage and request), the
jobs' chargebacks (its cost estimate), the datasets (fresh data for it) and the
approvals a model's promotion needed (how many sign-offs its quarantine needs).
From its own topic: windows opened and scored, alerts, proposals and quarantines.
``apply`` is idempotent: the worker folds its own outputs when it emits them and
again when the global table reads them back.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from covenant.events.base import Message
from covenant.events.datasets import DatasetLineage, DatasetRegistered
from covenant.events.drift import (
    DriftAlerted,
    DriftScored,
    DriftWindowOpened,
    QuarantineApplied,
    QuarantineReleased,
    QuarantineSignedOff,
    RetrainApproved,
    RetrainProposed,
)
from covenant.events.evaluation import EvaluationCompleted
from covenant.events.finance import ChargebackRecorded
from covenant.events.promotion import PromotionPending
from covenant.events.registry import ModelRegistered, ModelRegistryEntry
from covenant.events.serving import DeploymentRecord, DeploymentRecorded
from covenant.events.training import TrainingJob, TrainingQueued
from covenant.topics import (
    DATASET_EVENTS,
    DRIFT_EVENTS,
    EVAL_EVENTS,
    FINANCE_EVENTS,
    MODEL_EVENTS,
    PROMOTION_EVENTS,
    SERVE_EVENTS,
    TRAIN_EVENTS,
    Topic,
)

#: Scored windows remembered per deployment, for findings and ``GET /drift``'s worker
#: side; older ones are on the log.
RECENT = 20


@dataclass(frozen=True)
class Opened:
    """Where a deployment's latest window began on the samples topic."""

    window: int
    partition: int
    offset: int


@dataclass
class Quarantine:
    applied: QuarantineApplied
    signed_by: list[str] = field(default_factory=list)
    released: bool = False


@dataclass
class DriftState:
    """Every fact the drift worker decides on."""

    topics: tuple[Topic, ...] = (
        DATASET_EVENTS,
        MODEL_EVENTS,
        TRAIN_EVENTS,
        EVAL_EVENTS,
        FINANCE_EVENTS,
        PROMOTION_EVENTS,
        SERVE_EVENTS,
        DRIFT_EVENTS,
    )
    deployments: dict[str, DeploymentRecord] = field(default_factory=dict)
    profiles: dict[str, str] = field(default_factory=dict)
    models: dict[str, ModelRegistryEntry] = field(default_factory=dict)
    jobs: dict[str, TrainingJob] = field(default_factory=dict)
    charges: dict[str, ChargebackRecorded] = field(default_factory=dict)
    datasets: dict[str, DatasetLineage] = field(default_factory=dict)
    approvals_needed: dict[str, int] = field(default_factory=dict)
    #: The last two windows opened per deployment: the open one (or the last closed)
    #: and the one before, whose predictions late labels may still match.
    opened: dict[str, list[Opened]] = field(default_factory=dict)
    scored: dict[str, int] = field(default_factory=dict)
    recent: dict[str, deque[DriftScored]] = field(default_factory=dict)
    alerts: dict[str, DriftAlerted] = field(default_factory=dict)
    proposals: dict[str, RetrainProposed] = field(default_factory=dict)
    approved: dict[str, RetrainApproved] = field(default_factory=dict)
    quarantines: dict[str, Quarantine] = field(default_factory=dict)
    nonces: set[str] = field(default_factory=set)
    _seen: set[str] = field(default_factory=set)

    def reset(self) -> None:
        for table in (
            self.deployments,
            self.profiles,
            self.models,
            self.jobs,
            self.charges,
            self.datasets,
            self.approvals_needed,
            self.opened,
            self.scored,
            self.recent,
            self.alerts,
            self.proposals,
            self.approved,
            self.quarantines,
        ):
            table.clear()
        self.nonces.clear()
        self._seen.clear()

    def apply(self, message: Message) -> None:
        if message.meta.event_id in self._seen:
            return
        self._seen.add(message.meta.event_id)
        if isinstance(message, DeploymentRecorded):
            self.deployments[message.record.deploy_id] = message.record
        elif isinstance(message, EvaluationCompleted):
            if message.profile_artifact_id is not None and message.passed:
                self.profiles[message.model_id] = message.profile_artifact_id
        elif isinstance(message, ModelRegistered):
            self.models[message.entry.model_id] = message.entry
        elif isinstance(message, TrainingQueued):
            self.jobs[message.job.job_id] = message.job
        elif isinstance(message, ChargebackRecorded):
            self.charges[message.job_id] = message
        elif isinstance(message, DatasetRegistered):
            self.datasets[message.lineage.dataset_id] = message.lineage
        elif isinstance(message, PromotionPending):
            needed = max(self.approvals_needed.get(message.model_id, 0), message.required_approvals)
            self.approvals_needed[message.model_id] = needed
        elif message.TOPIC is DRIFT_EVENTS:
            self._apply_drift(message)

    def _apply_drift(self, message: Message) -> None:
        if isinstance(message, DriftWindowOpened):
            marks = self.opened.setdefault(message.deploy_id, [])
            mark = Opened(message.window, message.partition, message.offset)
            if mark not in marks:
                marks.append(mark)
                marks.sort(key=lambda m: m.window)
                del marks[:-2]
        elif isinstance(message, DriftScored):
            self.scored[message.deploy_id] = max(
                self.scored.get(message.deploy_id, -1), message.window
            )
            self.recent.setdefault(message.deploy_id, deque(maxlen=RECENT)).append(message)
        elif isinstance(message, DriftAlerted):
            self.alerts[message.alert_id] = message
        elif isinstance(message, RetrainProposed):
            self.proposals[message.proposal_id] = message
        elif isinstance(message, RetrainApproved):
            self.approved[message.proposal_id] = message
            self.nonces.add(message.nonce)
        elif isinstance(message, QuarantineApplied):
            self.quarantines.setdefault(message.quarantine_id, Quarantine(message))
        elif isinstance(message, QuarantineSignedOff):
            self.nonces.add(message.nonce)
            quarantine = self.quarantines.get(message.quarantine_id)
            if quarantine is not None and message.approver_id not in quarantine.signed_by:
                quarantine.signed_by.append(message.approver_id)
        elif isinstance(message, QuarantineReleased):
            quarantine = self.quarantines.get(message.quarantine_id)
            if quarantine is not None:
                quarantine.released = True

    def is_open(self, deploy_id: str) -> bool:
        """Whether the deployment's latest window is still unscored."""
        marks = self.opened.get(deploy_id) or []
        return bool(marks) and marks[-1].window > self.scored.get(deploy_id, -1)

    def quarantined(self, model_id: str) -> Quarantine | None:
        """The quarantine holding ``model_id`` off every route, if one is in force."""
        return next(
            (
                q
                for q in self.quarantines.values()
                if q.applied.model_id == model_id and not q.released
            ),
            None,
        )

    def drifted_run(self, deploy_id: str, longest: int) -> list[DriftScored]:
        """The deployment's latest scored windows, up to ``longest``, that all drifted
        (oldest first); empty when the latest did not. Read from the folded log, so a
        restarted worker counts the same run."""
        run: list[DriftScored] = []
        for scored in reversed(list(self.recent.get(deploy_id, ()))[-longest:]):
            if not scored.drifted:
                break
            run.insert(0, scored)
        return run

    def proposal_for(self, model_id: str) -> RetrainProposed | None:
        """A retrain already proposed for this model (approved or not): one is enough."""
        return next((p for p in self.proposals.values() if p.model_id == model_id), None)
