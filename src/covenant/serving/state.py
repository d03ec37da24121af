"""What the serving worker decides on, folded from the fact topics.

Every model's entry, status and manifest signature (the promotion worker's facts,
folded by the same ``PromotionState``), every deployment's latest record, each
route's traffic split, the canary analyses so far (with their samples, so a step's
judgement is made on everything the step gathered) and the scale decisions.
``apply`` is idempotent: the worker folds its own outputs when it emits them and
again when the global table reads them back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from covenant.events.base import Message
from covenant.events.drift import QuarantineApplied, QuarantineReleased
from covenant.events.serving import (
    TERMINAL,
    CanaryAnalysed,
    DeploymentRecord,
    DeploymentRecorded,
    DeploymentRefused,
    DeploymentStatus,
    ScaleDecided,
    TrafficShifted,
)
from covenant.promotion.state import PromotionState
from covenant.topics import DRIFT_EVENTS, MODEL_EVENTS, PROMOTION_EVENTS, SERVE_EVENTS, Topic


@dataclass
class ServingState:
    """Every deployment, split, analysis and refusal the worker has seen."""

    topics: tuple[Topic, ...] = (MODEL_EVENTS, PROMOTION_EVENTS, SERVE_EVENTS, DRIFT_EVENTS)
    promotion: PromotionState = field(default_factory=PromotionState)
    deployments: dict[str, DeploymentRecord] = field(default_factory=dict)
    splits: dict[str, TrafficShifted] = field(default_factory=dict)
    analyses: dict[str, list[CanaryAnalysed]] = field(default_factory=dict)
    scales: dict[str, list[ScaleDecided]] = field(default_factory=dict)
    refusals: dict[str, DeploymentRefused] = field(default_factory=dict)
    history: dict[str, list[DeploymentRecord]] = field(default_factory=dict)
    #: model id → the drift quarantine in force on it (released ones removed)
    quarantines: dict[str, str] = field(default_factory=dict)
    _released: set[str] = field(default_factory=set)
    _seen: set[str] = field(default_factory=set)

    def reset(self) -> None:
        self.promotion.reset()
        for table in (
            self.deployments,
            self.splits,
            self.analyses,
            self.scales,
            self.refusals,
            self.history,
            self.quarantines,
        ):
            table.clear()
        self._released.clear()
        self._seen.clear()

    def apply(self, message: Message) -> None:
        if message.meta.event_id in self._seen:
            return
        if isinstance(message, QuarantineApplied):
            if message.quarantine_id not in self._released:
                self.quarantines[message.model_id] = message.quarantine_id
            return
        if isinstance(message, QuarantineReleased):
            # Topics interleave on a rebuild: a release may be read before its quarantine.
            self._released.add(message.quarantine_id)
            if self.quarantines.get(message.model_id) == message.quarantine_id:
                del self.quarantines[message.model_id]
            return
        if message.TOPIC == DRIFT_EVENTS:
            return
        if message.TOPIC != SERVE_EVENTS:
            self.promotion.apply(message)
            return
        self._seen.add(message.meta.event_id)
        if isinstance(message, DeploymentRecorded):
            record = message.record
            self.deployments[record.deploy_id] = record
            self.history.setdefault(record.deploy_id, []).append(record)
        elif isinstance(message, TrafficShifted):
            self.splits[message.route] = message
        elif isinstance(message, CanaryAnalysed):
            self.analyses.setdefault(message.deploy_id, []).append(message)
        elif isinstance(message, ScaleDecided):
            self.scales.setdefault(message.deploy_id, []).append(message)
        elif isinstance(message, DeploymentRefused):
            self.refusals[message.deploy_id] = message

    def known(self, deploy_id: str) -> bool:
        """Whether a deployment with this id was accepted or refused."""
        return deploy_id in self.deployments or deploy_id in self.refusals

    def on_route(self, route: str) -> list[DeploymentRecord]:
        """The live (not ended) deployments of a route, oldest first."""
        live = [
            d for d in self.deployments.values() if d.route == route and d.status not in TERMINAL
        ]
        return sorted(live, key=lambda d: (d.created_at, d.deploy_id))

    def stable(self, route: str) -> DeploymentRecord | None:
        """The route's serving deployment, if any."""
        serving = [d for d in self.on_route(route) if d.status is DeploymentStatus.SERVING]
        return serving[-1] if serving else None

    def step_samples(self, deploy_id: str, step: int) -> dict[str, dict[str, list[float]]]:
        """Every sample of one canary step so far: arm → metric → values."""
        out: dict[str, dict[str, list[float]]] = {}
        for analysis in self.analyses.get(deploy_id, []):
            if analysis.step != step:
                continue
            for arm in analysis.arms:
                metrics = out.setdefault(arm.arm, {})
                metrics.setdefault("latency_ms", []).extend(arm.latency_ms)
                metrics.setdefault("error", []).extend(arm.error)
                metrics.setdefault("accuracy", []).extend(arm.accuracy)
        return out
