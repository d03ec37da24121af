"""Safety checks over a model's outputs, declared in the ``eval.run`` command.

Each check reads only the outputs (predicted labels and probability vectors), never
the truth, so it holds for data the model has never been scored on too (the same
checks can guard serving). Every check returns a ``SafetyResult``: its name, whether
it passed, the figure it measured and a sentence saying what it saw.

Checks (``SafetyCheckConfig.name``):

* ``probabilities_valid``: every row is finite, in [0, 1] and sums to 1 (within
  1e-4); value = share of rows that are not; passes at 0.
* ``labels_allowed``: every predicted label is in ``allowed_labels`` (default: the
  model's own classes); value = share outside; passes at 0.
* ``max_class_share``: no class is predicted for more than ``threshold`` of rows;
  value = the largest share.
* ``max_low_confidence_rate``: at most ``threshold`` of rows have a top probability
  below ``confidence``; value = that rate.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from covenant.evaluation.errors import EvaluationError
from covenant.evaluation.metrics import Probabilities
from covenant.events.evaluation import SafetyCheckConfig, SafetyResult

CHECKS = ("probabilities_valid", "labels_allowed", "max_class_share", "max_low_confidence_rate")
SUM_TOLERANCE = 1e-4


def run_checks(
    checks: Sequence[SafetyCheckConfig],
    *,
    y_pred: Sequence[str],
    proba: Probabilities,
    classes: Sequence[str],
) -> list[SafetyResult]:
    """Every configured check's result, in the order declared.

    Raises:
        EvaluationError: a check is unknown or lacks the bound it needs, or there are
            no rows to check.
    """
    if len(y_pred) == 0:
        raise EvaluationError("safety checks need at least one prediction")
    return [_one(check, y_pred, proba, classes) for check in checks]


def _one(
    check: SafetyCheckConfig, y_pred: Sequence[str], proba: Probabilities, classes: Sequence[str]
) -> SafetyResult:
    rows = len(y_pred)
    if check.name == "probabilities_valid":
        finite = np.all(np.isfinite(proba), axis=1)
        clean = np.where(np.isfinite(proba), proba, -1.0)
        bounded = np.all((clean >= 0.0) & (clean <= 1.0), axis=1)
        sums = np.abs(clean.sum(axis=1) - 1.0) <= SUM_TOLERANCE
        bad = int((~(finite & bounded & sums)).sum())
        return SafetyResult(
            name=check.name,
            passed=bad == 0,
            value=bad / rows,
            detail=f"{bad} of {rows} rows are not a finite probability vector summing to 1",
        )
    if check.name == "labels_allowed":
        allowed = set(check.allowed_labels or classes)
        outside = [label for label in y_pred if label not in allowed]
        return SafetyResult(
            name=check.name,
            passed=not outside,
            value=len(outside) / rows,
            detail=f"{len(outside)} of {rows} predictions outside {sorted(allowed)}"
            + (f", e.g. {sorted(set(outside))[:3]}" if outside else ""),
        )
    if check.name == "max_class_share":
        bound = _threshold(check)
        label, count = Counter(y_pred).most_common(1)[0]
        share = count / rows
        return SafetyResult(
            name=check.name,
            passed=share <= bound,
            value=share,
            detail=f"class {label!r} is predicted for {share:.1%} of rows (at most {bound:.1%})",
        )
    if check.name == "max_low_confidence_rate":
        bound = _threshold(check)
        if check.confidence is None:
            raise EvaluationError(
                "max_low_confidence_rate needs a confidence", field="metrics.safetyChecks"
            )
        top = np.max(np.where(np.isfinite(proba), proba, 0.0), axis=1)
        rate = float((top < check.confidence).mean())
        return SafetyResult(
            name=check.name,
            passed=rate <= bound,
            value=rate,
            detail=f"{rate:.1%} of rows have a top probability below {check.confidence} "
            f"(at most {bound:.1%})",
        )
    raise EvaluationError(
        f"unknown safety check {check.name!r}; known: {', '.join(CHECKS)}",
        field="metrics.safetyChecks",
    )


def _threshold(check: SafetyCheckConfig) -> float:
    if check.threshold is None:
        raise EvaluationError(f"{check.name} needs a threshold", field="metrics.safetyChecks")
    return check.threshold
