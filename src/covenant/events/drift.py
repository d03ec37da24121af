"""Drift commands and events: serving samples, scored windows, alerts and remediation.

Everything is keyed by the route (``route:<name>``), as serving is: one drift worker
instance sees a route's samples, labels and decisions in order. Samples come from the
model servers (one record per request row); labels come later from whoever learns the
truth, by request id. The worker turns each label into a ``drift.outcome`` on the
samples topic, so outcomes are ordered with the samples they judge and a window
replayed after a crash holds exactly what it held before.

``drift.scored`` carries every statistic with the threshold it was compared with, so
a verdict can be recomputed from the log and the reference profile alone. Alerts lead
to remediation by rule: a ``retrain.proposed`` that waits for a person's signed
approval, or a quarantine (traffic back to the last good version) that blocks the
model from serving again until it is signed off. ``drift.finding`` ties each alert to
its windows, statistics, reference profile and remediation, for the Reasoning Graph.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from covenant.events.base import Command, Event, Record
from covenant.events.training import ComputeRequirements, TargetModel
from covenant.topics import DRIFT_COMMANDS, DRIFT_EVENTS, DRIFT_LABELS, DRIFT_SAMPLES


class ObserveSample(Command, type="drift.sample", topic=DRIFT_SAMPLES):
    """One row a model server answered, as the model saw it (a sampled share of rows)."""

    route: str
    deploy_id: str
    model_id: str
    request_id: str = Field(description="the OIP request id (or the server's), plus #row")
    features: list[float] = Field(description="numeric inputs in the model's input order")
    categories: dict[str, str] = Field(
        default_factory=dict, description="categorical inputs by name"
    )
    prediction: str | None = Field(default=None, description="the predicted label")
    attributes: dict[str, str] = Field(
        default_factory=dict, description="sensitive attributes the caller sent, for fairness"
    )
    observed_at: datetime = Field(description="when the server answered (event time)")


class ObserveLabel(Command, type="drift.label", topic=DRIFT_LABELS):
    """The truth for an answered request, learnt later."""

    route: str
    request_id: str
    label: str


class ObserveOutcome(Command, type="drift.outcome", topic=DRIFT_SAMPLES):
    """A label re-keyed onto the samples topic by the drift worker (see the module)."""

    route: str
    request_id: str
    label: str
    label_event_id: str


class AlertSeverity(StrEnum):
    """``safety`` findings quarantine; ``drift`` findings propose a retrain."""

    DRIFT = "drift"
    SAFETY = "safety"


class ReportAlert(Command, type="drift.report", topic=DRIFT_COMMANDS):
    """An alert raised outside Covenant (``POST /drift/alert``); same actions as ours."""

    alert_id: str
    route: str
    model_id: str
    severity: AlertSeverity
    reason: str
    features: list[str] = Field(default_factory=list)
    source: str = Field(description="who raised it: a monitoring system, a person")


class SignedDecision(Record):
    """One person's Ed25519-signed yes to a proposal or a quarantine release.

    The signature covers :func:`covenant.drift.signoff.signoff_message` (subject id,
    request digest, approver, expiry, nonce), like a promotion approval but with its
    own type tag, so one cannot stand for the other.
    """

    approver_id: str
    key_id: str
    request_digest: str
    expires_at: datetime
    nonce: str
    signature: bytes


class ApproveRetrain(Command, type="retrain.approve", topic=DRIFT_COMMANDS):
    """A person approves a retrain proposal; only then is it submitted."""

    proposal_id: str
    route: str
    decision: SignedDecision


class SignOffQuarantine(Command, type="quarantine.signoff", topic=DRIFT_COMMANDS):
    """A person signs off a quarantined model as safe to serve again."""

    quarantine_id: str
    route: str
    decision: SignedDecision


class StatisticScore(Record):
    """One statistic of one column in one window."""

    name: str = Field(description="ks, wasserstein, psi, js (Jensen-Shannon distance), chi2")
    value: float
    threshold: float = Field(description="the calibrated bound (Bonferroni-corrected)")
    pvalue: float | None = Field(default=None, description="Monte Carlo, when calibrated")
    drifted: bool
    primary: bool = Field(description="the statistic the column's verdict is made on")


class ColumnDrift(Record):
    """One column's verdict in a window."""

    column: str
    kind: str = Field(description="numeric or categorical")
    role: str = Field(description="input or output")
    drifted: bool
    statistics: list[StatisticScore]
    bins: list[str] = Field(
        default_factory=list, description="the reference's decile ranges, or the categories"
    )
    reference_share: list[float] = Field(default_factory=list, description="share per bin")
    current_share: list[float] = Field(default_factory=list, description="share per bin")


class RateDrift(Record):
    """Performance (accuracy) or fairness (a group's positive rate) against the reference."""

    name: str = Field(description="accuracy, or parity_gap:<attribute>")
    reference: float
    current: float
    trials: int
    pvalue: float | None
    drifted: bool
    detail: str = ""


class WindowSpan(Record):
    """Where a window's records are: one partition of the samples topic, offsets [a, b]."""

    partition: int
    first_offset: int
    last_offset: int


class DriftScored(Event, type="drift.scored", topic=DRIFT_EVENTS):
    """One closed window of one deployment, scored against its reference profile."""

    route: str
    deploy_id: str
    model_id: str
    window: int = Field(description="numbered from 0 per deployment, consecutively")
    opened_at: datetime
    closed_at: datetime
    rows: int
    rejected: dict[str, int] = Field(
        default_factory=dict, description="samples not scored, by reason"
    )
    span: WindowSpan
    reference_profile_id: str = Field(description="sha256 artifact id of the profile")
    alpha: float = Field(description="false-alarm rate per window, over all columns")
    columns: list[ColumnDrift]
    outcomes: list[RateDrift] = Field(default_factory=list)
    drifted: bool


class DriftWindowOpened(Event, type="drift.window_opened", topic=DRIFT_EVENTS):
    """Where a deployment's window began: the drift worker replays from here after a
    crash, so the open window is rebuilt from the log, not lost."""

    route: str
    deploy_id: str
    window: int
    partition: int
    offset: int


class Remediation(StrEnum):
    RETRAIN = "retrain"
    QUARANTINE = "quarantine"
    NONE = "none"


class DriftAlerted(Event, type="drift.alert", topic=DRIFT_EVENTS):
    """Drift past a threshold (ours or an outside system's), and what is done about it."""

    alert_id: str
    route: str
    deploy_id: str | None
    model_id: str
    severity: AlertSeverity
    source: str = Field(description="drift-worker, or who reported it")
    reason: str
    features: list[str] = Field(default_factory=list)
    windows: list[int] = Field(default_factory=list)
    remediation: Remediation


class CostEstimate(Record):
    """What the retrain will cost, from the parent job's measured usage and the pool's rate."""

    pool: str
    hours: float = Field(description="accelerator-hours, or CPU-hours on a CPU pool")
    cost: str = Field(description="decimal amount in the pool's currency")
    currency: str
    basis: str = Field(description="how it was estimated")


class QuotaCheck(Record):
    """Whether the retrain fits the team's quota in its pool now."""

    pool: str
    team: str
    fits: bool
    detail: str


class RetrainLineage(Record):
    """What the retrain descends from: the model, its training job, its data, the alert."""

    parent_model_id: str
    parent_job_id: str | None
    parent_datasets: list[str]
    datasets: list[str] = Field(description="what the retrain trains on (fresh data)")
    alert_id: str
    windows: list[int] = Field(default_factory=list)


class RetrainRequest(Record):
    """The ``train.submit`` a proposal submits once approved, field for field."""

    job_id: str
    model_family: str
    team: str
    dataset_refs: list[str]
    code_ref: str
    entrypoint: str
    hyperparams: dict[str, str] = Field(default_factory=dict)
    seed: int = 0
    compute: ComputeRequirements = Field(default_factory=ComputeRequirements)
    target: TargetModel | None = None
    retrain_reason: str


class RetrainProposed(Event, type="retrain.proposed", topic=DRIFT_EVENTS):
    """A prepared training request, not submitted until a person approves it."""

    proposal_id: str
    alert_id: str
    route: str
    model_id: str
    request: RetrainRequest = Field(description="submitted as is once approved")
    lineage: RetrainLineage
    cost: CostEstimate | None
    quota: QuotaCheck | None
    request_digest: str = Field(description="hex SHA-256 of the request; approvers sign it")


class RetrainApproved(Event, type="retrain.approved", topic=DRIFT_EVENTS):
    """The proposal was approved and its training request submitted."""

    proposal_id: str
    route: str
    approver_id: str
    job_id: str
    nonce: str = Field(description="the decision's nonce, remembered so it cannot be replayed")


class QuarantineApplied(Event, type="quarantine.applied", topic=DRIFT_EVENTS):
    """A safety finding took a model off the route; it may not serve until signed off."""

    quarantine_id: str
    alert_id: str
    route: str
    model_id: str
    deploy_id: str | None
    required_signoffs: int = Field(description="distinct sign-offs its release needs")
    request_digest: str = Field(description="hex SHA-256 of the release request")


class QuarantineSignedOff(Event, type="quarantine.signed", topic=DRIFT_EVENTS):
    """One accepted sign-off; the quarantine ends when enough have come."""

    quarantine_id: str
    route: str
    approver_id: str
    signoffs: int
    required_signoffs: int
    nonce: str = Field(description="the decision's nonce, remembered so it cannot be replayed")


class QuarantineReleased(Event, type="quarantine.released", topic=DRIFT_EVENTS):
    """The model may be deployed again."""

    quarantine_id: str
    route: str
    model_id: str
    approvers: list[str]


class DriftDecisionRefused(Event, type="drift.refused", topic=DRIFT_EVENTS):
    """An approval, sign-off or alert that was not taken, and why."""

    subject_id: str
    route: str
    code: str
    reason: str


class DriftFinding(Event, type="drift.finding", topic=DRIFT_EVENTS):
    """The explainability trace of one alert: what caused it and what was done.

    Event ids point into the log, so an auditor (or the Reasoning Graph) follows the
    finding back to the scored windows and forward to the remediation."""

    finding_id: str
    alert_id: str
    route: str
    model_id: str
    reference_profile_id: str | None
    scored_event_ids: list[str] = Field(default_factory=list)
    windows: list[int] = Field(default_factory=list)
    features: list[str] = Field(default_factory=list)
    statistics: list[str] = Field(
        default_factory=list, description="column/statistic=value>threshold, per cause"
    )
    remediation: Remediation
    remediation_event_id: str | None = Field(
        default=None, description="the retrain.proposed or quarantine.applied it led to"
    )
