"""The evaluation's decisions, without I/O: what a command is refused for, and the
figures, safety results and gate verdicts of one scored batch.

The worker fetches bytes and runs the model; everything it concludes from them is
decided here, so a unit test can check a verdict from arrays alone and the report
written to the store is the same document the event is built from.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from covenant.evaluation.gates import GateBook, decide
from covenant.evaluation.metrics import Scored, fairness, task_metrics
from covenant.evaluation.runners.protocol import Predictions
from covenant.evaluation.safety import run_checks
from covenant.evaluation.state import EvaluationState
from covenant.evaluation.testsets import TestSet
from covenant.events.evaluation import (
    FairnessFigures,
    GateVerdict,
    RunEvaluation,
    SafetyResult,
    TaskMetrics,
)
from covenant.events.refusals import Refusal, RefusalCode


def command_refusals(command: RunEvaluation, state: EvaluationState) -> list[Refusal]:
    """Why ``command`` cannot start: an unknown model, unknown test sets, none given."""
    refusals = []
    if command.model_id not in state.models:
        refusals.append(
            Refusal(
                code=RefusalCode.NOT_FOUND,
                message=f"model {command.model_id!r} is not registered",
                field="modelId",
            )
        )
    if not command.test_set_refs:
        refusals.append(
            Refusal(
                code=RefusalCode.INVALID, message="name at least one test set", field="testSetRefs"
            )
        )
    for ref in command.test_set_refs:
        if ref not in state.datasets:
            refusals.append(
                Refusal(
                    code=RefusalCode.NOT_FOUND,
                    message=f"test set {ref!r} is not a registered dataset",
                    field="testSetRefs",
                )
            )
    return refusals


@dataclass(frozen=True)
class Figures:
    """Everything one evaluation concluded."""

    gate_family: str
    gates_version: str
    task: TaskMetrics
    fairness: list[FairnessFigures]
    safety: list[SafetyResult]
    gates: list[GateVerdict]

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)


def figures(
    command: RunEvaluation, *, family: str, data: TestSet, out: Predictions, book: GateBook
) -> Figures:
    """Score ``out`` against ``data`` and judge it by ``book``'s gates for ``family``.

    Raises:
        EvaluationError: the outputs cannot be scored (see ``metrics``).
    """
    config = command.metrics
    scored = Scored(data.labels, out.labels, out.proba, out.classes)
    safety = run_checks(
        config.safety_checks, y_pred=out.labels, proba=out.proba, classes=out.classes
    )
    task = task_metrics(scored, wanted=config.task_metrics, bins=config.calibration_bins)
    fair = []
    if config.sensitive_attribute is not None and data.groups is not None:
        fair.append(
            fairness(
                scored,
                data.groups,
                attribute=config.sensitive_attribute,
                positive_label=config.positive_label,
            )
        )
    section, gates = book.gates_for(family)
    verdicts = decide(gates, task=task, fairness=fair, safety=safety)
    return Figures(section, book.version, task, fair, safety, verdicts)


def report(command: RunEvaluation, result: Figures, checksums: Mapping[str, str]) -> bytes:
    """The JSON report stored as an artifact: the same figures as ``eval.completed``,
    with no clock in it, so a redelivered command writes the same bytes (the same id)."""
    document: dict[str, Any] = {
        "evalId": command.eval_id,
        "modelId": command.model_id,
        "passed": result.passed,
        "gateFamily": result.gate_family,
        "gatesVersion": result.gates_version,
        "gates": [g.model_dump(mode="json") for g in result.gates],
        "task": result.task.model_dump(mode="json"),
        "fairness": [f.model_dump(mode="json") for f in result.fairness],
        "safety": [s.model_dump(mode="json") for s in result.safety],
        "testSetChecksums": dict(sorted(checksums.items())),
        "metricsConfig": command.metrics.model_dump(mode="json"),
    }
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()
