"""Evaluation's pure figures: the library calls are cross-checked by hand, and every
input that cannot be scored fails by name instead of giving a silent 0."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from covenant.evaluation.errors import EvaluationError
from covenant.evaluation.metrics import (
    Scored,
    brier_score,
    expected_calibration_error,
    fairness,
    task_metrics,
)

CLASSES = ["0", "1"]


def _binary() -> tuple[Scored, list[str]]:
    # Group a: rows 0-3, group b: rows 4-7.
    y_true = ["1", "1", "0", "0", "1", "0", "0", "0"]
    y_pred = ["1", "0", "1", "0", "1", "1", "1", "0"]
    p1 = np.array([0.9, 0.4, 0.6, 0.2, 0.8, 0.7, 0.6, 0.1])
    proba = np.column_stack([1 - p1, p1])
    return Scored(y_true, y_pred, proba, CLASSES), ["a"] * 4 + ["b"] * 4


def test_fairness_agrees_with_a_hand_computation() -> None:
    scored, groups = _binary()
    figures = fairness(scored, groups, attribute="g")
    # Selection rates: a predicts 1 for 2 of 4 = 0.5; b for 3 of 4 = 0.75.
    assert figures.demographic_parity_difference == pytest.approx(0.25)
    # TPR: a 1/2, b 1/1 -> 0.5; FPR: a 1/2, b 2/3 -> 1/6; the larger is 0.5.
    assert figures.equalized_odds_difference == pytest.approx(0.5)
    by = {g.group: g for g in figures.groups}
    assert by["a"].selection_rate == pytest.approx(0.5)
    assert by["b"].true_positive_rate == pytest.approx(1.0)
    assert by["b"].false_positive_rate == pytest.approx(2 / 3)
    assert (by["a"].rows, figures.positive_label) == (4, "1")


def test_task_metrics_are_scikit_learns() -> None:
    scored, _ = _binary()
    task = task_metrics(scored, wanted=["accuracy", "roc_auc_ovr", "ece"], bins=10)
    assert task.accuracy == accuracy_score(scored.y_true, scored.y_pred)
    assert task.f1_macro == pytest.approx(f1_score(scored.y_true, scored.y_pred, average="macro"))
    truth = [int(t) for t in scored.y_true]
    assert task.roc_auc_ovr == pytest.approx(roc_auc_score(truth, scored.proba[:, 1]))
    assert task.calibration is not None
    assert task.calibration.bins == 10


def test_ece_by_hand() -> None:
    # Confidences 0.9 (right), 0.6 (wrong), 0.6 (right); 2 bins: (0, .5], (.5, 1].
    proba = np.array([[0.1, 0.9], [0.6, 0.4], [0.4, 0.6]])
    ece = expected_calibration_error(["1", "1", "1"], proba, CLASSES, bins=2)
    # One bin holds all three: accuracy 2/3, mean confidence 0.7.
    assert ece == pytest.approx(abs(2 / 3 - 0.7))
    perfect = np.array([[0.0, 1.0], [1.0, 0.0]])
    assert expected_calibration_error(["1", "0"], perfect, CLASSES, bins=10) == 0.0


def test_brier_is_the_mean_squared_distance_to_one_hot() -> None:
    proba = np.array([[0.2, 0.8], [0.5, 0.5]])
    expected = ((0.2**2 + 0.2**2) + (0.5**2 + 0.5**2)) / 2
    assert brier_score(["1", "0"], proba, CLASSES) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("scored", "problem"),
    [
        (Scored([], [], np.zeros((0, 2)), CLASSES), "empty"),
        (Scored(["1"], ["1", "0"], np.array([[0.0, 1.0]]), CLASSES), "length mismatch"),
        (Scored(["1"], ["1"], np.array([[np.nan, 1.0]]), CLASSES), "NaN"),
        (Scored(["7"], ["1"], np.array([[0.0, 1.0]]), CLASSES), "not among the model's classes"),
        (Scored(["1", "1"], ["1", "1"], np.array([[0.0, 1.0]] * 2), CLASSES), "two classes"),
    ],
)
def test_unscorable_inputs_fail_by_name(scored: Scored, problem: str) -> None:
    with pytest.raises(EvaluationError, match=problem):
        task_metrics(scored, wanted=["accuracy", "roc_auc_ovr"], bins=10)
