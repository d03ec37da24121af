"""The sequential test and the step plan built on it."""

from __future__ import annotations

import numpy as np

from covenant.serving.analysis import (
    DEFAULT_METRICS,
    Direction,
    MetricSpec,
    Outcome,
    StepDecision,
    analyse_step,
    sequential_verdict,
)

LAT = MetricSpec("latency_ms", Direction.LOWER_IS_BETTER)


def _lat(seed: int, n: int, scale: float = 1.0) -> list[float]:
    return [float(x) for x in np.random.default_rng(seed).lognormal(2.3, 0.5, n) * scale]


def test_large_regression_fails_early() -> None:
    v = sequential_verdict(LAT, _lat(1, 200), _lat(2, 200, 1.5), alpha=0.01)
    assert v.outcome is Outcome.FAIL
    assert v.method == "sequential"


def test_equal_sides_eventually_pass_below_floor() -> None:
    v = sequential_verdict(LAT, _lat(1, 5000), _lat(2, 5000), alpha=0.01)
    assert v.outcome is Outcome.PASS


def test_small_sample_is_inconclusive_or_insufficient() -> None:
    assert sequential_verdict(LAT, _lat(1, 10), _lat(2, 10)).outcome is Outcome.INSUFFICIENT
    assert sequential_verdict(LAT, _lat(1, 60), _lat(2, 60)).outcome is Outcome.INCONCLUSIVE


def _samples(seed: int, n: int, err: float) -> dict[str, list[float]]:
    rng = np.random.default_rng(seed)
    return {"latency_ms": _lat(seed, n), "error": (rng.random(n) < err).astype(float).tolist()}


def test_error_regression_fails_the_step() -> None:
    a = analyse_step(DEFAULT_METRICS, _samples(1, 2000, 0.0), _samples(2, 2000, 0.05), final=True)
    assert a.decision is StepDecision.FAIL
    assert "error" in a.reason


def test_insufficient_at_final_continues_not_fails() -> None:
    a = analyse_step(DEFAULT_METRICS, _samples(1, 20, 0.0), _samples(2, 20, 0.0), final=True)
    assert a.decision is StepDecision.CONTINUE


def test_healthy_step_passes_at_final() -> None:
    a = analyse_step(DEFAULT_METRICS, _samples(1, 500, 0.01), _samples(2, 500, 0.01), final=True)
    assert a.decision is StepDecision.PASS
    assert a.score == 100.0
