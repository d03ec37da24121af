"""Drift statistics against scipy's, exactly where the reference is exact, and within the
stated bound where it is a sketch."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps
from scipy.spatial.distance import jensenshannon

from covenant.drift.profile import NumericProfile, build_profile
from covenant.drift.statistics import (
    WeightedSample,
    binned,
    chi_squared,
    jensen_shannon,
    ks,
    psi,
    wasserstein,
)

TOL = 1e-9


def _support(column: NumericProfile) -> WeightedSample:
    values, weights = column.support()
    return WeightedSample(values, weights, column.moments.count)


def _exact_reference(values: np.ndarray) -> WeightedSample:
    column = build_profile({"x": values}).columns["x"]
    assert isinstance(column, NumericProfile)
    assert column.rank_error == 0.0, "a small reference is kept exactly"
    return _support(column)


@pytest.mark.parametrize("seed", range(5))
def test_ks_and_wasserstein_equal_scipy_on_an_exact_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    reference = rng.normal(size=1200)
    window = rng.normal(0.1 * seed, 1 + 0.05 * seed, size=int(rng.integers(50, 900)))
    ref = _exact_reference(reference)
    d, p = ks(ref, np.sort(window))
    expected = sps.ks_2samp(reference, window, method="asymp")
    assert d == pytest.approx(expected.statistic, abs=TOL)
    assert p == pytest.approx(expected.pvalue, abs=TOL)
    assert wasserstein(ref, np.sort(window)) == pytest.approx(
        sps.wasserstein_distance(reference, window), abs=TOL
    )


def test_ties_are_counted_like_scipy() -> None:
    rng = np.random.default_rng(3)
    reference = rng.integers(0, 6, size=800).astype(float)
    window = rng.integers(1, 7, size=400).astype(float)
    ref = _exact_reference(reference)
    d, p = ks(ref, np.sort(window))
    expected = sps.ks_2samp(reference, window, method="asymp")
    assert (d, p) == pytest.approx((expected.statistic, expected.pvalue), abs=TOL)
    assert wasserstein(ref, np.sort(window)) == pytest.approx(
        sps.wasserstein_distance(reference, window), abs=TOL
    )


def test_a_sketched_reference_is_within_the_stated_rank_error() -> None:
    rng = np.random.default_rng(11)
    reference = rng.standard_normal(400_000)
    window = rng.normal(0.05, 1.0, size=5000)
    column = build_profile({"x": reference}).columns["x"]
    assert isinstance(column, NumericProfile)
    epsilon = column.rank_error
    assert 0 < epsilon < 0.002
    d, _ = ks(_support(column), np.sort(window))
    exact = sps.ks_2samp(reference, window).statistic
    assert abs(d - exact) <= epsilon
    # W1 moves by at most the area between the two reference CDFs: epsilon x range.
    bound = epsilon * (reference.max() - reference.min())
    w = wasserstein(_support(column), np.sort(window))
    assert abs(w - sps.wasserstein_distance(reference, window)) <= bound


def test_jensen_shannon_and_psi_over_reference_deciles() -> None:
    rng = np.random.default_rng(5)
    reference = rng.exponential(size=2000)
    window = np.sort(rng.exponential(1.3, size=700))
    expected, actual = binned(_exact_reference(reference), window)
    assert expected == pytest.approx(np.full(10, 0.1), abs=1e-3)
    assert actual.sum() == pytest.approx(1.0)
    assert jensen_shannon(expected, actual) == pytest.approx(
        jensenshannon(expected, actual, base=2), abs=TOL
    )
    by_hand = sum((a - e) * np.log(a / e) for e, a in zip(expected, actual, strict=True))
    assert psi(expected, actual) == pytest.approx(by_hand, abs=TOL)
    assert psi(expected, expected) == 0.0


def test_psi_floors_empty_bins_instead_of_dividing_by_zero() -> None:
    value = psi(np.array([0.5, 0.5, 0.0]), np.array([0.0, 0.5, 0.5]))
    assert np.isfinite(value)
    assert value > 1


@pytest.mark.parametrize(
    ("reference", "window"),
    [
        ({"a": 50, "b": 30, "c": 5}, {"a": 20, "b": 30, "d": 3}),
        ({"x": 1000, "y": 10}, {"x": 90, "y": 12}),
        ({"1": 7, "2": 9, "3": 11, "4": 3}, {"1": 9, "2": 9, "3": 4, "4": 8}),
    ],
)
def test_chi_squared_equals_chi2_contingency(
    reference: dict[str, int], window: dict[str, int]
) -> None:
    statistic, pvalue, dof = chi_squared(reference, window)
    keys = sorted(set(reference) | set(window))
    table = np.array([[reference.get(k, 0) for k in keys], [window.get(k, 0) for k in keys]])
    expected = sps.chi2_contingency(table, correction=False)
    assert statistic == pytest.approx(expected.statistic, abs=TOL)
    assert pvalue == pytest.approx(expected.pvalue, abs=TOL)
    assert dof == expected.dof


def test_chi_squared_of_a_single_category_is_no_evidence() -> None:
    assert chi_squared({"a": 10}, {"a": 4}) == (0.0, 1.0, 0)
