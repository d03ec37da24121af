"""Evaluation commands and events: one model version scored on registered test sets.

``eval.completed`` carries every figure the gates looked at, so a promotion worker
decides from the event alone and an auditor can recompute the verdict from the log.
Figures are plain doubles; a figure that cannot be computed fails the evaluation
(``eval.failed``) instead of travelling as a silent 0. Commands and events are keyed
by ``model_id``, so one model's evaluations stay in order.
"""

from __future__ import annotations

from pydantic import Field

from covenant.events.base import Command, Event, Record
from covenant.events.refusals import Refusal
from covenant.topics import EVAL_COMMANDS, EVAL_EVENTS


class SafetyCheckConfig(Record):
    """One safety check over the model's outputs, as declared in the command.

    ``name`` is one of ``probabilities_valid`` (every output a finite probability
    vector summing to 1), ``labels_allowed`` (predicted labels inside
    ``allowed_labels``), ``max_class_share`` (no class predicted for more than
    ``threshold`` of rows), ``max_low_confidence_rate`` (at most ``threshold`` of rows
    whose top probability is below ``confidence``).
    """

    name: str
    threshold: float | None = None
    confidence: float | None = None
    allowed_labels: list[str] = Field(default_factory=list)


class MetricsConfig(Record):
    """What to compute, from which columns of the test set."""

    task_metrics: list[str] = Field(
        default_factory=lambda: ["accuracy", "f1_macro", "roc_auc_ovr", "ece", "brier"],
        description="accuracy, f1_macro, roc_auc_ovr, ece, brier",
    )
    label_column: str = "label"
    sensitive_attribute: str | None = Field(
        default=None, description="column whose groups fairness is computed over"
    )
    ignore_columns: list[str] = Field(
        default_factory=list, description="columns that are neither features nor truth"
    )
    positive_label: str | None = Field(
        default=None, description="fairness's positive class; None: the model's last class"
    )
    calibration_bins: int = Field(default=10, description="equal-width ECE bins")
    safety_checks: list[SafetyCheckConfig] = Field(default_factory=list)


class RunEvaluation(Command, type="eval.run", topic=EVAL_COMMANDS):
    """Ask to evaluate a registered model version on registered test-set datasets."""

    eval_id: str
    model_id: str = Field(description="family:version in the registry")
    test_set_refs: list[str] = Field(description="registered dataset ids")
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)


class Calibration(Record):
    """How well the predicted probabilities match observed frequencies."""

    ece: float = Field(description="expected calibration error, top-label, equal-width bins")
    bins: int
    brier: float = Field(description="multiclass Brier score: mean squared error of one-hot")


class TaskMetrics(Record):
    """The task figures over all rows of all test sets."""

    rows: int
    accuracy: float
    f1_macro: float
    roc_auc_ovr: float | None = Field(default=None, description="None when not requested")
    calibration: Calibration | None = None


class GroupFigures(Record):
    """One group of a sensitive attribute."""

    group: str
    rows: int
    selection_rate: float = Field(description="share of rows predicted positive (label 1 vs rest)")
    accuracy: float
    true_positive_rate: float | None = None
    false_positive_rate: float | None = None


class FairnessFigures(Record):
    """Fairness over one sensitive attribute (fairlearn's definitions)."""

    attribute: str
    positive_label: str = Field(description="the class treated as the positive outcome")
    demographic_parity_difference: float
    equalized_odds_difference: float
    groups: list[GroupFigures]


class SafetyResult(Record):
    """One safety check's outcome."""

    name: str
    passed: bool
    value: float
    detail: str = ""


class GateVerdict(Record):
    """One gate: the figure it reads, its bound, and whether the figure met it."""

    name: str = Field(description="e.g. min_accuracy, max_ece, safety_checks_passed")
    threshold: float
    value: float
    passed: bool


class EvaluationCompleted(Event, type="eval.completed", topic=EVAL_EVENTS):
    """A model was evaluated; ``passed`` is the conjunction of every gate's verdict."""

    eval_id: str
    model_id: str
    model_family: str
    gate_family: str = Field(description="the gates.toml section used (the family or default)")
    gates_version: str = Field(description="the gates file's version")
    passed: bool
    gates: list[GateVerdict]
    task: TaskMetrics
    fairness: list[FairnessFigures] = Field(default_factory=list)
    safety: list[SafetyResult] = Field(default_factory=list)
    report_artifact_id: str = Field(description="sha256 of the JSON report in the store")
    test_set_checksums: dict[str, str] = Field(description="dataset id -> sha256:<hex>")
    profile_artifact_id: str | None = Field(
        default=None,
        description="sha256 of the drift reference profile (covenant.drift) of the test "
        "set's features and the model's outputs; serving windows are compared with it",
    )


class EvaluationFailed(Event, type="eval.failed", topic=EVAL_EVENTS):
    """An evaluation could not be carried out (unknown model or dataset, a checksum
    mismatch, a bad model file, inputs that cannot be scored)."""

    eval_id: str
    model_id: str
    reasons: list[str] = Field(description="the refusals' messages, for older readers")
    refusals: list[Refusal] = Field(default_factory=list)
