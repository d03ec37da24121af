"""Performance and fairness drift: calibrated on the reference's rates, checked by fairlearn."""

from __future__ import annotations

import math

import numpy as np
import pytest
from fairlearn.metrics import demographic_parity_difference

from covenant.drift.outcomes import Rate, fairness_drift, parity_gap, performance_drift

ALPHA = 0.05


def test_parity_gap_is_fairlearns_demographic_parity_difference() -> None:
    rng = np.random.default_rng(3)
    groups = rng.choice(["a", "b", "c"], 3000, p=[0.5, 0.3, 0.2])
    rate = {"a": 0.3, "b": 0.45, "c": 0.2}
    predicted = (rng.random(3000) < np.vectorize(rate.get)(groups)).astype(int)
    counts = {g: Rate(int(predicted[groups == g].sum()), int((groups == g).sum())) for g in rate}
    expected = demographic_parity_difference(np.zeros(3000), predicted, sensitive_features=groups)
    assert parity_gap(counts) == pytest.approx(expected, abs=1e-12)


def test_performance_drift_holds_its_false_alarm_rate_and_finds_a_drop() -> None:
    rng = np.random.default_rng(5)
    reference = Rate(9200, 10_000)
    trials, alarms, found = 400, 0, 0
    for _ in range(trials):
        same = Rate(int(rng.binomial(500, 0.92)), 500)
        alarms += performance_drift(reference, same, alpha=ALPHA).exceeded
        worse = Rate(int(rng.binomial(500, 0.85)), 500)
        found += performance_drift(reference, worse, alpha=ALPHA).exceeded
    assert alarms / trials <= ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / trials)
    assert found / trials >= 0.95


def test_fairness_drift_holds_its_false_alarm_rate_and_finds_a_widened_gap() -> None:
    rng = np.random.default_rng(6)
    reference = {"a": Rate(3000, 10_000), "b": Rate(3300, 10_000)}
    trials, alarms, found = 300, 0, 0
    for _ in range(trials):
        same = {
            "a": Rate(int(rng.binomial(800, 0.30)), 800),
            "b": Rate(int(rng.binomial(800, 0.33)), 800),
        }
        alarms += fairness_drift(reference, same, alpha=ALPHA)[0].exceeded
        wide = {
            "a": Rate(int(rng.binomial(800, 0.25)), 800),
            "b": Rate(int(rng.binomial(800, 0.40)), 800),
        }
        found += fairness_drift(reference, wide, alpha=ALPHA)[0].exceeded
    assert alarms / trials <= ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / trials)
    assert found / trials >= 0.95


def test_groups_too_small_to_judge_are_left_out_and_named() -> None:
    reference = {"a": Rate(300, 1000), "b": Rate(330, 1000), "c": Rate(10, 40)}
    window = {"a": Rate(30, 100), "b": Rate(33, 100), "c": Rate(9, 10)}
    statistic, excluded = fairness_drift(reference, window, alpha=ALPHA)
    assert excluded == ["c"]
    assert statistic.value == pytest.approx(0.0, abs=1e-12)
    assert not statistic.exceeded


def test_nothing_to_judge_is_no_evidence() -> None:
    assert not performance_drift(Rate(90, 100), Rate(0, 0), alpha=ALPHA).exceeded
    statistic, excluded = fairness_drift({"a": Rate(1, 100)}, {"a": Rate(1, 100)}, alpha=ALPHA)
    assert statistic.threshold == math.inf
    assert excluded == []


def test_an_impossible_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="hits must lie"):
        Rate(5, 4)
