"""Serving commands and events: deployments, traffic splits, canary analyses, scaling.

Everything is keyed by the route (``route:<name>``): the deployments sharing a route
(the stable version, a canary, the version a rollback returns to) are decided by one
serving worker instance, in order. The spec's ``DeploymentRecord`` is never updated
in place: each change of a deployment is one ``serve.deployment`` event carrying the
whole record as it now stands, and the traffic split of a route is its own event
(``serve.traffic``), so a reader sees in the log exactly when traffic moved and
when replicas came and went.

Commands come from people and Kernel (``serve.deploy``, ``serve.scale``,
``serve.rollback``) and from the serving agent, which runs the replicas and reports
what it saw (``serve.observe``, ``canary.observe``, ``serve.load``). Measurements
carry every sample, so an analysis can be recomputed from the log alone.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from covenant.events.base import Command, Event, Record
from covenant.topics import SERVE_COMMANDS, SERVE_EVENTS


class DeploymentStatus(StrEnum):
    """Where a deployment stands. ``rolled_back``, ``superseded``, ``failed`` end it."""

    PENDING = "pending"  # accepted; replicas starting, no traffic yet
    CANARY = "canary"  # taking a step of the canary plan's traffic
    SERVING = "serving"  # the route's stable version
    ROLLING_BACK = "rolling_back"  # traffic moved away; replicas draining
    ROLLED_BACK = "rolled_back"
    SUPERSEDED = "superseded"  # a newer deployment took the route
    FAILED = "failed"  # its replicas could not start (the reason says why)


TERMINAL = frozenset(
    {DeploymentStatus.ROLLED_BACK, DeploymentStatus.SUPERSEDED, DeploymentStatus.FAILED}
)


class Strategy(StrEnum):
    """How a deployment takes a route that already has a stable version."""

    CANARY = "canary"  # the step plan, analysed against a baseline, automatic rollback
    AB = "ab"  # a fixed sticky split by a request key, measured, ended by hand
    SHADOW = "shadow"  # a sampled copy of the traffic, answers discarded, measured


class DeploymentResources(Record):
    """Replicas and what each may use; the autoscaler moves between min and max."""

    replicas: int = Field(default=1, ge=0, le=64)
    min_replicas: int = Field(default=1, ge=0, le=64)
    max_replicas: int = Field(default=4, ge=1, le=64)
    target_rps_per_replica: float = Field(default=50.0, gt=0)
    cpu: str = "500m"
    memory: str = "512Mi"
    schedules: list[str] = Field(
        default_factory=list, description='scheduled floors, e.g. "mon-fri 01:00-03:00 min=4"'
    )


class CanaryMetric(Record):
    """One metric the canary is judged on (latency_ms, error, accuracy, or the owner's)."""

    name: str
    direction: str = Field(description="lower_is_better or higher_is_better")
    effect_floor: float = Field(default=0.10, ge=0, description="relative change that matters")
    min_samples: int = Field(default=50, ge=5)
    critical: bool = False


class CanaryConfig(Record):
    """The spec's canaryConfig: the step plan and how each step is judged."""

    strategy: Strategy = Strategy.CANARY
    steps: list[int] = Field(default_factory=lambda: [5, 25, 50, 100])
    step_requests: int = Field(
        default=200, ge=10, description="canary samples per step before the final judgement"
    )
    max_step_s: float = Field(default=600.0, gt=0, description="a step longer than this fails")
    metrics: list[CanaryMetric] = Field(default_factory=list, description="empty: latency, error")
    alpha: float = Field(default=0.05, gt=0, lt=1)
    sticky_key: str | None = Field(default=None, description="A/B: the header that picks the arm")
    ab_percent: int = Field(default=50, ge=1, le=99)
    shadow_rate: float = Field(default=0.1, gt=0, le=1)


class DeploymentProvenance(Record):
    """What a deployment serves and why it may: the bytes, their signature, the promotion."""

    artifact_id: str = Field(description="the signed subject, sha256:<hex>")
    served_artifact_id: str = Field(description="the file the servers load (watermarked copy)")
    manifest_id: str | None = None
    signer_id: str | None = None
    payload_sha256: str | None = None
    model_status: str = Field(description="the model's status when it was deployed")


class DeploymentRecord(Record):
    """The spec's DeploymentRecord, as it stands after one change."""

    deploy_id: str
    model_id: str = Field(description="family:version")
    version: str
    env: str = Field(description="sandbox, staging or prod")
    route: str
    node_pool: str = "default"
    resources: DeploymentResources
    status: DeploymentStatus
    canary_config: CanaryConfig | None = None
    created_at: datetime
    provenance: DeploymentProvenance
    metrics_endpoint: str = Field(description="where Prometheus scrapes its servers")
    endpoints: list[str] = Field(default_factory=list, description="ready replicas")
    ready_replicas: int = 0
    traffic_percent: int = 0
    step: int = Field(default=-1, description="index into canaryConfig.steps; -1 before")
    step_started_at: datetime | None = None
    baseline_ready: int = Field(default=0, description="ready baseline replicas (canary only)")
    replaces: str | None = Field(default=None, description="the stable deployment it replaces")
    rolls_back: str | None = Field(
        default=None, description="the deployment this one's return to the route rolls back"
    )
    reason: str = ""


class TrafficArm(Record):
    """One weighted arm of a route's split: the replicas of one deployment in one role."""

    name: str = Field(description="stable, canary, baseline, a or b")
    deploy_id: str
    model_id: str
    weight: int = Field(ge=0, le=100)


class ArmSamples(Record):
    """Per-request samples of one arm since the previous observation."""

    arm: str
    deploy_id: str
    latency_ms: list[float] = Field(default_factory=list)
    error: list[float] = Field(default_factory=list, description="1 failed, 0 answered")
    accuracy: list[float] = Field(default_factory=list, description="labelled: 1 right, 0 wrong")


class CanaryVerdict(Record):
    """One metric's judgement in one analysis, with the statistic behind it."""

    metric: str
    method: str = Field(description="mann_whitney or sequential")
    outcome: str = Field(description="pass, fail or insufficient")
    n_baseline: int
    n_canary: int
    statistic: float | None = None
    p_value: float | None = None
    effect: float | None = Field(default=None, description="relative change, canary vs baseline")
    baseline_summary: float | None = None
    canary_summary: float | None = None
    reason: str


class DeployModel(Command, type="serve.deploy", topic=SERVE_COMMANDS):
    """Deploy a model version on a route (replacing, canarying or shadowing its stable)."""

    deploy_id: str
    model_id: str
    env: str
    route: str
    node_pool: str = "default"
    resources: DeploymentResources = Field(default_factory=DeploymentResources)
    canary_config: CanaryConfig | None = None
    reason: str = ""


class ScaleDeployment(Command, type="serve.scale", topic=SERVE_COMMANDS):
    """Set replicas or autoscaling bounds, or adjust a rollout's traffic by hand."""

    deploy_id: str
    route: str
    replicas: int | None = Field(default=None, ge=0, le=64)
    min_replicas: int | None = Field(default=None, ge=0, le=64)
    max_replicas: int | None = Field(default=None, ge=1, le=64)
    traffic_percent: int | None = Field(default=None, ge=0, le=100)
    reason: str = ""


class RollbackDeployment(Command, type="serve.rollback", topic=SERVE_COMMANDS):
    """End a canary (the stable keeps the route) or return a route to its prior version."""

    deploy_id: str
    route: str
    reason: str = ""


class ObserveReplicas(Command, type="serve.observe", topic=SERVE_COMMANDS):
    """The serving agent's report on one deployment's replicas in one role."""

    deploy_id: str
    route: str
    role: str
    desired: int
    ready: int
    endpoints: list[str] = Field(default_factory=list)
    refused: str | None = Field(default=None, description="the server's refusal code")
    reason: str = ""


class ObserveCanary(Command, type="canary.observe", topic=SERVE_COMMANDS):
    """Samples of a route's arms over one window, for the canary analysis."""

    deploy_id: str
    route: str
    step: int
    window_s: float
    arms: list[ArmSamples]


class ObserveLoad(Command, type="serve.load", topic=SERVE_COMMANDS):
    """The request rate a deployment's replicas took over one window, for autoscaling."""

    deploy_id: str
    route: str
    requests_per_s: float = Field(ge=0)
    window_s: float = Field(gt=0)


class DeploymentRecorded(Event, type="serve.deployment", topic=SERVE_EVENTS):
    """A deployment changed; the whole record as it now stands."""

    record: DeploymentRecord


class DeploymentRefused(Event, type="serve.refused", topic=SERVE_EVENTS):
    """A deploy, scale or rollback that was not carried out, or a model a server refused."""

    deploy_id: str
    route: str
    model_id: str | None = None
    code: str = Field(description="e.g. not_promoted, unknown_model, unsigned, digest_mismatch")
    reason: str


class TrafficShifted(Event, type="serve.traffic", topic=SERVE_EVENTS):
    """A route's traffic split from now on; the agent applies it atomically."""

    route: str
    arms: list[TrafficArm]
    shadow_deploy_id: str | None = None
    shadow_rate: float | None = None
    sticky_key: str | None = None
    reason: str


class CanaryAnalysed(Event, type="canary.analysed", topic=SERVE_EVENTS):
    """One analysis of a canary step: every statistic, and what was decided."""

    deploy_id: str
    route: str
    step: int
    traffic_percent: int
    decision: str = Field(description="continue, pass or fail")
    score: float
    n_baseline: int
    n_canary: int
    verdicts: list[CanaryVerdict]
    arms: list[ArmSamples] = Field(description="this window's samples, so anyone can recompute")
    reason: str
    observation_id: str = Field(description="the canary.observe that completed this window")


class ScaleDecided(Event, type="serve.scaled", topic=SERVE_EVENTS):
    """A deployment's replica count changed: by hand, by load or by schedule."""

    deploy_id: str
    route: str
    from_replicas: int
    to_replicas: int
    trigger: str = Field(description="manual, autoscale or schedule")
    requests_per_s: float | None = None
    reason: str
