"""Mann-Whitney judgement: floor, minimum sample, direction, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from covenant.serving.analysis import Direction, MetricSpec, Outcome, judge

LAT = MetricSpec("latency_ms", Direction.LOWER_IS_BETTER)
ACC = MetricSpec("accuracy", Direction.HIGHER_IS_BETTER)


def _lat(seed: int, n: int, scale: float = 1.0) -> list[float]:
    return [float(x) for x in np.random.default_rng(seed).lognormal(2.3, 0.5, n) * scale]


def test_clear_regression_fails_with_readable_reason() -> None:
    v = judge(LAT, _lat(1, 500), _lat(2, 500, 1.3))
    assert v.outcome is Outcome.FAIL
    assert v.effect is not None
    assert v.effect > 0.1
    assert "latency_ms" in v.reason
    assert "fail" in v.reason


def test_significant_but_tiny_difference_passes() -> None:
    v = judge(LAT, _lat(1, 20000), _lat(2, 20000, 1.04))
    assert v.p_value is not None
    assert v.p_value < 0.05
    assert v.outcome is Outcome.PASS
    assert "floor" in v.reason


def test_too_few_samples_is_insufficient() -> None:
    v = judge(LAT, _lat(1, 49), _lat(2, 500, 2.0))
    assert v.outcome is Outcome.INSUFFICIENT
    assert v.p_value is None


def test_faster_canary_passes() -> None:
    assert judge(LAT, _lat(1, 500), _lat(2, 500, 0.5)).outcome is Outcome.PASS


def test_lower_accuracy_fails_higher_passes() -> None:
    rng = np.random.default_rng(3)
    base = (rng.random(1000) < 0.9).astype(float).tolist()
    worse = (rng.random(1000) < 0.7).astype(float).tolist()
    assert judge(ACC, base, worse).outcome is Outcome.FAIL
    assert judge(ACC, worse, base).outcome is Outcome.PASS


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="canary samples contain NaN"):
        judge(LAT, _lat(1, 60), [float("nan")] * 60)
    with pytest.raises(ValueError, match="alpha"):
        judge(LAT, _lat(1, 60), _lat(1, 60), alpha=1.5)
    with pytest.raises(ValueError, match="effect_floor"):
        MetricSpec("x", Direction.LOWER_IS_BETTER, effect_floor=-1)
