"""Task, calibration and fairness figures, computed by the established libraries.

Pure functions over arrays: scikit-learn for accuracy, macro F1, one-vs-rest ROC AUC
and the Brier score; fairlearn for demographic-parity and equalized-odds differences;
expected calibration error is ours (neither library has it), defined below. Labels
are strings throughout (the model's classes as it names them), so a model that says
``"3"`` and a test set that says ``3`` compare equal once read.

Anything that cannot be scored honestly (an empty set, NaN probabilities, lengths
that disagree, one class only for AUC, a label the model cannot predict) raises
``EvaluationError`` naming the problem; no figure is ever a silent 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from covenant.evaluation.errors import EvaluationError
from covenant.events.evaluation import Calibration, FairnessFigures, GroupFigures, TaskMetrics

Probabilities = NDArray[np.float64]


@dataclass(frozen=True)
class Scored:
    """One batch of outputs against its truth.

    Attributes:
        y_true: the test set's labels.
        y_pred: the model's predicted labels.
        proba: (rows, classes) probabilities, columns in ``classes`` order.
        classes: the model's classes.
    """

    y_true: Sequence[str]
    y_pred: Sequence[str]
    proba: Probabilities
    classes: Sequence[str]


def check_scorable(scored: Scored) -> None:
    """Raise ``EvaluationError`` when ``scored`` cannot give honest figures."""
    rows = len(scored.y_true)
    if rows == 0:
        raise EvaluationError("the test set is empty: no figure can be computed")
    if len(scored.y_pred) != rows or scored.proba.shape[0] != rows:
        raise EvaluationError(
            f"length mismatch: {rows} labels, {len(scored.y_pred)} predictions, "
            f"{scored.proba.shape[0]} probability rows"
        )
    if scored.proba.ndim != 2 or scored.proba.shape[1] != len(scored.classes):
        raise EvaluationError(
            f"probabilities have shape {scored.proba.shape}, "
            f"expected ({rows}, {len(scored.classes)}) for classes {list(scored.classes)}"
        )
    if not np.all(np.isfinite(scored.proba)):
        raise EvaluationError("the model's probabilities contain NaN or infinite values")
    unknown = sorted(set(scored.y_true) - set(scored.classes))
    if unknown:
        raise EvaluationError(
            f"test-set labels {unknown[:5]} are not among the model's classes "
            f"{list(scored.classes)}",
            field="metrics.labelColumn",
        )


def expected_calibration_error(
    y_true: Sequence[str], proba: Probabilities, classes: Sequence[str], *, bins: int
) -> float:
    """Top-label ECE over ``bins`` equal-width bins of confidence.

    Each row's confidence is its highest probability; bin ``b`` (0-based) holds the
    rows with confidence in ``(b/bins, (b+1)/bins]`` (bin 0 also takes exactly 0).
    ECE = sum over bins of (rows in bin / rows) * |accuracy in bin - mean confidence
    in bin|; empty bins add nothing. This is Guo et al. (2017)'s definition.
    """
    if bins < 1:
        raise EvaluationError(f"calibration needs at least one bin, got {bins}")
    top = np.argmax(proba, axis=1)
    confidence = proba[np.arange(len(top)), top]
    correct = np.asarray([classes[i] == t for i, t in zip(top, y_true, strict=True)], dtype=float)
    index = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    total = 0.0
    for b in range(bins):
        members = index == b
        if members.any():
            gap = abs(correct[members].mean() - confidence[members].mean())
            total += members.sum() / len(confidence) * gap
    return float(total)


def brier_score(y_true: Sequence[str], proba: Probabilities, classes: Sequence[str]) -> float:
    """The multiclass Brier score: mean over rows of the squared distance between the
    probability vector and the one-hot truth (0 perfect, 2 worst); for two classes
    this is twice scikit-learn's binary ``brier_score_loss``, which is how it is
    computed there so the figure is the library's."""
    from sklearn.metrics import brier_score_loss

    onehot = np.asarray([[c == t for c in classes] for t in y_true], dtype=float)
    per_class = [
        brier_score_loss(onehot[:, k], proba[:, k], pos_label=1.0) for k in range(len(classes))
    ]
    return float(np.sum(per_class))


def roc_auc_ovr(y_true: Sequence[str], proba: Probabilities, classes: Sequence[str]) -> float:
    """ROC AUC: binary on the second class's probability, else one-vs-rest macro.

    Raises:
        EvaluationError: the test set holds one class only (AUC is undefined).
    """
    from sklearn.metrics import roc_auc_score

    present = sorted(set(y_true))
    if len(present) < 2:
        raise EvaluationError(f"ROC AUC needs two classes in the test set, found only {present}")
    if len(classes) == 2:
        positive = np.asarray([t == classes[1] for t in y_true], dtype=int)
        return float(roc_auc_score(positive, proba[:, 1]))
    if len(present) != len(classes):
        missing = sorted(set(classes) - set(present))
        raise EvaluationError(
            f"one-vs-rest ROC AUC needs every class in the test set; missing {missing[:5]}"
        )
    return float(roc_auc_score(list(y_true), proba, multi_class="ovr", labels=list(classes)))


def task_metrics(scored: Scored, *, wanted: Sequence[str], bins: int) -> TaskMetrics:
    """Accuracy and macro F1 always; AUC and calibration when ``wanted`` names them."""
    from sklearn.metrics import accuracy_score, f1_score

    check_scorable(scored)
    y_true, y_pred = list(scored.y_true), list(scored.y_pred)
    unknown = sorted(set(wanted) - {"accuracy", "f1_macro", "roc_auc_ovr", "ece", "brier"})
    if unknown:
        raise EvaluationError(f"unknown task metrics {unknown}", field="metrics.taskMetrics")
    auc = roc_auc_ovr(y_true, scored.proba, scored.classes) if "roc_auc_ovr" in wanted else None
    calibration = None
    if "ece" in wanted or "brier" in wanted:
        calibration = Calibration(
            ece=expected_calibration_error(y_true, scored.proba, scored.classes, bins=bins),
            bins=bins,
            brier=brier_score(y_true, scored.proba, scored.classes),
        )
    return TaskMetrics(
        rows=len(y_true),
        accuracy=float(accuracy_score(y_true, y_pred)),
        f1_macro=float(f1_score(y_true, y_pred, average="macro", labels=sorted(set(y_true)))),
        roc_auc_ovr=auc,
        calibration=calibration,
    )


def fairness(
    scored: Scored, groups: Sequence[str], *, attribute: str, positive_label: str | None = None
) -> FairnessFigures:
    """fairlearn's demographic-parity and equalized-odds differences for ``attribute``.

    Both are defined on a binary outcome: ``positive_label`` (default the model's last
    class, the convention for 0/1 models) against the rest. Per group: rows, selection
    rate, accuracy, true and false positive rates (None where a group has no positive
    or no negative rows).
    """
    from fairlearn.metrics import (
        MetricFrame,
        demographic_parity_difference,
        equalized_odds_difference,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import accuracy_score

    check_scorable(scored)
    if len(groups) != len(scored.y_true):
        raise EvaluationError(
            f"sensitive attribute {attribute!r} has {len(groups)} values "
            f"for {len(scored.y_true)} rows",
            field="metrics.sensitiveAttribute",
        )
    positive = positive_label if positive_label is not None else scored.classes[-1]
    truth = np.asarray([t == positive for t in scored.y_true], dtype=int)
    pred = np.asarray([p == positive for p in scored.y_pred], dtype=int)
    sensitive = np.asarray(groups, dtype=object)
    frame = MetricFrame(
        metrics={"selection_rate": selection_rate, "accuracy": accuracy_score},
        y_true=truth,
        y_pred=pred,
        sensitive_features=sensitive,
    )
    figures = []
    for group in sorted(set(groups)):
        rows = sensitive == group
        figures.append(
            GroupFigures(
                group=str(group),
                rows=int(rows.sum()),
                selection_rate=float(frame.by_group.loc[group, "selection_rate"]),
                accuracy=float(frame.by_group.loc[group, "accuracy"]),
                true_positive_rate=_rate(true_positive_rate, truth[rows], pred[rows], 1),
                false_positive_rate=_rate(false_positive_rate, truth[rows], pred[rows], 0),
            )
        )
    return FairnessFigures(
        attribute=attribute,
        positive_label=positive,
        demographic_parity_difference=float(
            demographic_parity_difference(truth, pred, sensitive_features=sensitive)
        ),
        equalized_odds_difference=float(
            equalized_odds_difference(truth, pred, sensitive_features=sensitive)
        ),
        groups=figures,
    )


def _rate(
    metric: object, truth: NDArray[np.int_], pred: NDArray[np.int_], need: int
) -> float | None:
    if not (truth == need).any():
        return None
    assert callable(metric)
    return float(metric(truth, pred))
