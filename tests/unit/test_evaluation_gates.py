"""Safety checks over outputs and the gate verdict from gates.toml: pure, by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from covenant.errors import ConfigError
from covenant.evaluation.errors import EvaluationError
from covenant.evaluation.gates import decide, load_gates
from covenant.evaluation.safety import run_checks
from covenant.events.evaluation import (
    Calibration,
    FairnessFigures,
    SafetyCheckConfig,
    SafetyResult,
    TaskMetrics,
)

CLASSES = ["0", "1"]


def test_safety_checks_measure_the_outputs() -> None:
    proba = np.array([[0.1, 0.9], [0.45, 0.55], [0.2, 0.7], [0.3, 0.7]])
    checks = [
        SafetyCheckConfig(name="probabilities_valid"),
        SafetyCheckConfig(name="labels_allowed", allowed_labels=["1"]),
        SafetyCheckConfig(name="max_class_share", threshold=0.7),
        SafetyCheckConfig(name="max_low_confidence_rate", threshold=0.5, confidence=0.6),
    ]
    results = run_checks(checks, y_pred=["1", "1", "1", "0"], proba=proba, classes=CLASSES)
    by = {r.name: r for r in results}
    assert (by["probabilities_valid"].passed, by["probabilities_valid"].value) == (False, 0.25)
    assert (by["labels_allowed"].passed, by["labels_allowed"].value) == (False, 0.25)
    assert (by["max_class_share"].passed, by["max_class_share"].value) == (False, 0.75)
    assert (by["max_low_confidence_rate"].passed, by["max_low_confidence_rate"].value) == (
        True,
        0.25,
    )


def test_an_unknown_check_is_named() -> None:
    with pytest.raises(EvaluationError, match="unknown safety check 'vibes'"):
        run_checks(
            [SafetyCheckConfig(name="vibes")], y_pred=["1"], proba=np.ones((1, 1)), classes=["1"]
        )


def _task(accuracy: float, ece: float | None) -> TaskMetrics:
    calibration = Calibration(ece=ece, bins=10, brier=0.1) if ece is not None else None
    return TaskMetrics(rows=10, accuracy=accuracy, f1_macro=accuracy, calibration=calibration)


def test_the_built_in_file_merges_a_family_over_the_default() -> None:
    book = load_gates()
    section, gates = book.gates_for("digits")
    assert section == "digits"
    assert gates["min_accuracy"] == 0.9
    assert gates["require_safety_checks"] is True  # from [default]
    assert book.gates_for("unknown-family")[0] == "default"


def test_the_verdict_names_each_gate_and_a_missing_figure_fails() -> None:
    gates = {"min_accuracy": 0.9, "max_ece": 0.1, "max_demographic_parity_difference": 0.1}
    fair = FairnessFigures(
        attribute="g",
        positive_label="1",
        demographic_parity_difference=0.05,
        equalized_odds_difference=0.3,
        groups=[],
    )
    verdicts = decide(gates, task=_task(0.95, None), fairness=[fair], safety=[])
    assert [(v.name, v.passed) for v in verdicts] == [
        ("min_accuracy", True),
        ("max_ece", False),  # not computed: fails
        ("max_demographic_parity_difference", True),
    ]
    failed = SafetyResult(name="max_class_share", passed=False, value=0.9)
    (safety,) = decide(
        {"require_safety_checks": True}, task=_task(0.5, 0.0), fairness=[], safety=[failed]
    )
    assert (safety.name, safety.value, safety.passed) == ("safety_checks_passed", 1.0, False)


def test_a_bad_gates_file_is_refused_by_key(tmp_path: Path) -> None:
    path = tmp_path / "gates.toml"
    path.write_text('version = "1"\n[default]\nmin_acuracy = 0.9\n')
    with pytest.raises(ConfigError, match="unknown gate 'min_acuracy'"):
        load_gates(path)
