"""Calibrated thresholds: the stated false-alarm rate holds, and real drift is found.

The acceptance numbers of the drift issue: a 0.25 sigma mean shift in one of 20 features at
5,000 rows per window is found in at least 95 % of windows, and over 1,000 windows with
no shift the rate of windows that alarm is within the stated 5 %.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from covenant.drift.calibration import Calibration, calibrate
from covenant.drift.profile import Profile, build_profile
from covenant.drift.scoring import score_window

FEATURES = 20
ROWS = 5000
ALPHA = 0.05


def _clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    tail = (1 - confidence) / 2
    low = 0.0 if k == 0 else float(sps.beta.ppf(tail, k, n - k + 1))
    high = 1.0 if k == n else float(sps.beta.ppf(1 - tail, k + 1, n - k))
    return low, high


@pytest.fixture(scope="module")
def calibrated() -> tuple[Profile, Calibration]:
    rng = np.random.default_rng(2026)
    # Features of different shapes: the thresholds are per feature, not one formula.
    reference: dict[str, np.ndarray] = {}
    for i in range(FEATURES):
        shape = i % 3
        if shape == 0:
            reference[f"f{i}"] = rng.standard_normal(200_000)
        elif shape == 1:
            reference[f"f{i}"] = rng.exponential(size=200_000)
        else:
            reference[f"f{i}"] = np.round(rng.gamma(2.0, size=200_000), 1)
    profile = build_profile(reference)
    return profile, calibrate(profile, ROWS, alpha=ALPHA)


def _window(rng: np.random.Generator) -> dict[str, np.ndarray]:
    window: dict[str, np.ndarray] = {}
    for i in range(FEATURES):
        shape = i % 3
        if shape == 0:
            window[f"f{i}"] = rng.standard_normal(ROWS)
        elif shape == 1:
            window[f"f{i}"] = rng.exponential(size=ROWS)
        else:
            window[f"f{i}"] = np.round(rng.gamma(2.0, size=ROWS), 1)
    return window


def test_the_false_alarm_rate_is_within_the_stated_rate(
    calibrated: tuple[Profile, Calibration],
) -> None:
    profile, calibration = calibrated
    assert calibration.level == pytest.approx(ALPHA / FEATURES)
    rng = np.random.default_rng(99)
    windows, alarms, column_alarms = 1000, 0, 0
    for _ in range(windows):
        scored = score_window(profile, calibration, _window(rng))
        alarms += scored.alarm
        column_alarms += len(scored.drifted_columns)
    low, high = _clopper_pearson(alarms, windows)
    print(
        f"false alarms: {alarms}/{windows} = {alarms / windows:.3f} (95 % CI {low:.3f}-{high:.3f})"
    )
    assert low <= ALPHA, f"false-alarm rate {alarms / windows} is above the stated {ALPHA}"
    column_low, _ = _clopper_pearson(column_alarms, windows * FEATURES)
    assert column_low <= calibration.level
    # Bonferroni is conservative, not vacuous: the thresholds still fire on null data now
    # and then, so they are not set at infinity.
    assert alarms > 0


def test_a_quarter_sigma_shift_in_one_of_twenty_features_is_found(
    calibrated: tuple[Profile, Calibration],
) -> None:
    profile, calibration = calibrated
    rng = np.random.default_rng(7)
    windows, found = 200, 0
    for _ in range(windows):
        window = _window(rng)
        window["f3"] = window["f3"] + 0.25  # f3 is standard normal: 0.25 sigma
        scored = score_window(profile, calibration, window)
        found += "f3" in scored.drifted_columns
    assert found / windows >= 0.95


def test_every_statistic_carries_its_threshold_and_p_value(
    calibrated: tuple[Profile, Calibration],
) -> None:
    profile, calibration = calibrated
    window = _window(np.random.default_rng(1))
    window["f1"] = window["f1"] * 1.5
    scored = score_window(profile, calibration, window)
    f1 = next(c for c in scored.columns if c.column == "f1")
    assert [s.name for s in f1.statistics] == ["ks", "wasserstein", "psi", "js"]
    for statistic in f1.statistics:
        assert statistic.exceeded, statistic
        assert 0 < statistic.threshold < math.inf
        assert statistic.pvalue == pytest.approx(1 / (calibration.resamples + 1))
    assert f1.primary.asymptotic_pvalue is not None
    assert f1.primary.asymptotic_pvalue < 1e-9
    assert "f1" in scored.drifted_columns


def test_thresholds_are_reproducible_from_the_profile() -> None:
    rng = np.random.default_rng(4)
    profile = build_profile(
        {"a": rng.normal(size=30_000)}, {"c": list(rng.choice(["x", "y"], 30_000))}
    )
    first = calibrate(profile, 1000, resamples=500)
    again = calibrate(Profile.from_bytes(profile.to_bytes()), 1000, resamples=500)
    for name in ("a", "c"):
        for statistic, null in first.columns[name].null.items():
            assert np.array_equal(null, again.columns[name].null[statistic])


def test_categorical_columns_alarm_on_a_changed_mix() -> None:
    rng = np.random.default_rng(8)
    profile = build_profile(
        {}, {"region": list(rng.choice(["eu", "us", "apac"], 50_000, p=[0.5, 0.3, 0.2]))}
    )
    calibration = calibrate(profile, 2000, resamples=1000)
    same = list(rng.choice(["eu", "us", "apac"], 2000, p=[0.5, 0.3, 0.2]))
    moved = list(rng.choice(["eu", "us", "apac"], 2000, p=[0.4, 0.35, 0.25]))
    assert not score_window(profile, calibration, {}, {"region": same}).alarm
    scored = score_window(profile, calibration, {}, {"region": moved})
    assert scored.drifted_columns == ["region"]
    assert [s.name for s in scored.columns[0].statistics] == ["chi2", "psi", "js"]


def test_too_few_resamples_for_the_level_are_raised_to_reach_it() -> None:
    profile = build_profile({f"f{i}": np.arange(100.0) for i in range(40)})
    calibration = calibrate(profile, 10, resamples=100)  # level 0.05/40 < 1/101
    assert calibration.resamples == 800  # 40 columns / 0.05
    assert calibration.columns["f0"].null["ks"].size == 800
    threshold = calibration.columns["f0"].threshold("ks", calibration.level)
    assert 0 < threshold < math.inf


@pytest.mark.parametrize(("alpha", "rows"), [(0.0, 10), (1.0, 10), (0.05, 0)])
def test_bad_settings_are_refused(alpha: float, rows: int) -> None:
    with pytest.raises(ValueError, match=r"alpha|window"):
        calibrate(build_profile({"a": [1.0, 2.0]}), rows, alpha=alpha)


def test_a_window_without_a_profiled_column_is_refused() -> None:
    profile = build_profile({"a": [1.0, 2.0]})
    with pytest.raises(KeyError, match="'a'"):
        score_window(profile, calibrate(profile, 2, resamples=50), {"b": np.ones(2)})
