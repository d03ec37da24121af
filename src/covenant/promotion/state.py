"""What the promotion worker decides on, folded from the fact topics.

Every model's entry and current status, its latest manifest signature and latest
evaluation, the datasets it was trained on (for the pre-promotion policy's facts),
each promotion still pending, the promotions already decided and the approval
nonces already spent. ``apply`` is idempotent: the worker folds its own outputs when
it emits them and again when the global table reads them back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from covenant.events.base import Message
from covenant.events.datasets import DatasetCleared, DatasetRegistered
from covenant.events.evaluation import EvaluationCompleted
from covenant.events.promotion import (
    ApprovalAccepted,
    Environment,
    ManifestSignature,
    ManifestSigned,
    ModelDemoted,
    ModelDeprecated,
    ModelPromoted,
    PromotionBlocked,
    PromotionPending,
)
from covenant.events.registry import ModelRegistered, ModelRegistryEntry, ModelStatus
from covenant.topics import DATASET_EVENTS, EVAL_EVENTS, MODEL_EVENTS, PROMOTION_EVENTS, Topic


@dataclass(frozen=True)
class EvaluationView:
    """The latest evaluation of a version, as the promotion checks need it.

    Attributes:
        eval_id: the evaluation's id, named in ``model.promoted``.
        passed: whether every gate of its family passed.
        failed_gates: the names of the gates that did not, for the reason.
        facts: the figures, for the pre-promotion policy's input.
        at: when it was made (time, event id), so only a later one replaces it.
    """

    eval_id: str
    passed: bool
    failed_gates: tuple[str, ...] = ()
    facts: dict[str, Any] = field(default_factory=dict)
    at: tuple[datetime, str] = (datetime.min.replace(tzinfo=UTC), "")


@dataclass
class ModelView:
    """One registered version and where it stands."""

    entry: ModelRegistryEntry
    status: ModelStatus


@dataclass
class Pending:
    """A promotion waiting for the policy decision or for approvals."""

    promotion_id: str
    model_id: str
    target: Environment
    region: str | None
    waiting_for: str
    request_digest: str
    requested_at: datetime
    correlation_id: str
    actor: str
    required_approvals: int = 0
    approvers: list[str] = field(default_factory=list)
    approved_by: list[str] = field(default_factory=list)
    policy_decision_id: str | None = None
    policy_version: str | None = None


@dataclass
class PromotionState:
    """Every model, signature, evaluation and promotion the worker has seen."""

    topics: tuple[Topic, ...] = (MODEL_EVENTS, PROMOTION_EVENTS, DATASET_EVENTS, EVAL_EVENTS)
    models: dict[str, ModelView] = field(default_factory=dict)
    statuses: dict[str, ModelStatus] = field(default_factory=dict)
    signatures: dict[str, ManifestSignature] = field(default_factory=dict)
    evaluations: dict[str, EvaluationView] = field(default_factory=dict)
    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)
    pending: dict[str, Pending] = field(default_factory=dict)
    decided: set[str] = field(default_factory=set)
    nonces: set[str] = field(default_factory=set)

    def reset(self) -> None:
        for table in (
            self.models,
            self.statuses,
            self.signatures,
            self.evaluations,
            self.datasets,
            self.pending,
        ):
            table.clear()
        self.decided.clear()
        self.nonces.clear()

    def known(self, promotion_id: str) -> bool:
        """Whether a promotion with this id was seen (pending or decided)."""
        return promotion_id in self.pending or promotion_id in self.decided

    def awaiting_policy(self) -> list[Pending]:
        """The promotions whose policy decision has not come (for the clock)."""
        return [p for p in self.pending.values() if p.waiting_for == "policy"]

    def apply(self, message: Message) -> None:
        if isinstance(message, ModelRegistered):
            entry = message.entry
            status = self.statuses.get(entry.model_id, entry.status)
            self.models.setdefault(entry.model_id, ModelView(entry, status))
        elif isinstance(message, DatasetRegistered | DatasetCleared):
            self._apply_dataset(message)
        elif isinstance(message, EvaluationCompleted):
            self._apply_evaluation(message)
        elif isinstance(message, ManifestSigned):
            self.signatures[message.signature.model_id] = message.signature
        elif isinstance(message, PromotionPending):
            self._apply_pending(message)
        elif isinstance(message, ApprovalAccepted):
            self.nonces.add(message.nonce)
            pending = self.pending.get(message.promotion_id)
            if pending is not None and message.approver_id not in pending.approved_by:
                pending.approved_by.append(message.approver_id)
        elif isinstance(message, ModelPromoted | ModelDemoted):
            self._set_status(message.model_id, message.to_status)
            if isinstance(message, ModelPromoted):
                self._decide(message.promotion_id)
        elif isinstance(message, ModelDeprecated):
            self._set_status(message.model_id, ModelStatus.DEPRECATED)
        elif isinstance(message, PromotionBlocked):
            self._decide(message.promotion_id)

    def _decide(self, promotion_id: str) -> None:
        self.pending.pop(promotion_id, None)
        self.decided.add(promotion_id)

    def _set_status(self, model_id: str, status: ModelStatus) -> None:
        """Kept apart from the entry too: a table rebuilt from offset 0 may fold a
        status change before the registration it follows (another topic), and the
        change must not be lost when the registration comes. One model's changes are
        on one partition, in the order they were decided."""
        self.statuses[model_id] = status
        view = self.models.get(model_id)
        if view is not None:
            view.status = status

    def _apply_pending(self, message: PromotionPending) -> None:
        if message.promotion_id in self.decided:
            return  # read back after the outcome: stays decided
        current = self.pending.get(message.promotion_id)
        approved = list(message.approved_by)
        if current is not None:  # an approval folded first keeps counting
            approved += [a for a in current.approved_by if a not in approved]
        self.pending[message.promotion_id] = Pending(
            promotion_id=message.promotion_id,
            model_id=message.model_id,
            target=message.target,
            region=message.region,
            waiting_for=message.waiting_for,
            request_digest=message.request_digest,
            requested_at=current.requested_at if current else message.meta.occurred_at,
            correlation_id=message.meta.correlation_id,
            actor=message.meta.actor,
            required_approvals=message.required_approvals,
            approvers=list(message.approvers),
            approved_by=approved,
            policy_decision_id=message.policy_decision_id,
            policy_version=message.policy_version,
        )

    def _apply_evaluation(self, message: EvaluationCompleted) -> None:
        """The latest evaluation (by time, then event id) is the one that counts."""
        current = self.evaluations.get(message.model_id)
        at = (message.meta.occurred_at, message.meta.event_id)
        if current is not None and current.at >= at:
            return
        fairness = {
            f.attribute: {
                "demographic_parity_difference": f.demographic_parity_difference,
                "equalized_odds_difference": f.equalized_odds_difference,
            }
            for f in message.fairness
        }
        self.evaluations[message.model_id] = EvaluationView(
            eval_id=message.eval_id,
            passed=message.passed,
            failed_gates=tuple(g.name for g in message.gates if not g.passed),
            facts={
                "gates": {g.name: {"value": g.value, "passed": g.passed} for g in message.gates},
                "accuracy": message.task.accuracy,
                "f1_macro": message.task.f1_macro,
                "fairness": fairness,
                "report_artifact_id": message.report_artifact_id,
            },
            at=at,
        )

    def _apply_dataset(self, message: DatasetRegistered | DatasetCleared) -> None:
        if isinstance(message, DatasetCleared):
            facts = self.datasets.get(message.dataset_id)
            if facts is not None:
                facts["approved"] = True
            return
        lineage = message.lineage
        self.datasets.setdefault(
            lineage.dataset_id,
            {
                "license": lineage.license,
                "pii_flags": list(lineage.pii_flags),
                "provenance_review": (
                    message.provenance_review.value if message.provenance_review else None
                ),
                "approved": False,
                "checksum": lineage.checksum,
            },
        )
