"""One window scored against a profile: every statistic, its threshold, and the verdict.

Pure: the drift worker hands it arrays and a calibration and publishes what it returns,
so the numbers in ``drift.scored`` are exactly these, and a unit test can check a
verdict from arrays alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from covenant.drift.calibration import PRIMARY, Calibration
from covenant.drift.profile import CategoricalProfile, NumericProfile, Profile
from covenant.drift.statistics import (
    WeightedSample,
    binned,
    chi_squared,
    jensen_shannon,
    ks_and_wasserstein,
    ks_pvalues,
    normalise,
    proportions,
    psi,
)


@dataclass(frozen=True)
class Statistic:
    """One statistic of one column: its value, calibrated threshold and p-values.

    ``pvalue`` is the Monte Carlo one against the calibration; ``asymptotic_pvalue`` the
    textbook formula's (KS and chi-squared only), shown for comparison, never decided on.
    The verdict is ``value > threshold``; for KS on a sketched reference the threshold
    includes the sketch's rank error, which the p-value does not.
    """

    name: str
    value: float
    threshold: float
    pvalue: float
    asymptotic_pvalue: float | None = None

    @property
    def exceeded(self) -> bool:
        return self.value > self.threshold


@dataclass(frozen=True)
class ColumnScore:
    column: str
    kind: str
    rows: int
    statistics: tuple[Statistic, ...]

    @property
    def primary(self) -> Statistic:
        return next(s for s in self.statistics if s.name == PRIMARY[self.kind])

    @property
    def drifted(self) -> bool:
        return self.primary.exceeded


@dataclass(frozen=True)
class WindowScore:
    """A window's scores; it alarms when any column's primary test passes its threshold."""

    columns: tuple[ColumnScore, ...]
    alpha: float
    level: float

    @property
    def drifted_columns(self) -> list[str]:
        return [c.column for c in self.columns if c.drifted]

    @property
    def alarm(self) -> bool:
        return any(c.drifted for c in self.columns)


def _numeric(
    name: str, column: NumericProfile, values: np.ndarray, calibration: Calibration
) -> ColumnScore:
    null = calibration.columns[name]
    level = calibration.level
    window = np.sort(values[np.isfinite(values)])
    support, weights = column.support()
    if window.size == 0 or support.size == 0:
        empty = tuple(Statistic(s, 0.0, null.threshold(s, level), 1.0) for s in null.null)
        return ColumnScore(name, "numeric", int(window.size), empty)
    reference = WeightedSample(support, weights, column.moments.count)
    d, w1 = ks_and_wasserstein(reference, window)
    ks_p = float(ks_pvalues(np.array([d]), np.array([reference.rows]), np.array([window.size]))[0])
    expected, actual = binned(reference, window)
    values_by_name = {
        "ks": d,
        "wasserstein": normalise(w1, column.moments.std),
        "psi": psi(expected, actual),
        "js": jensen_shannon(expected, actual),
    }
    statistics = tuple(
        Statistic(
            s,
            v,
            null.threshold(s, level),
            null.pvalue(s, v),
            ks_p if s == "ks" else None,
        )
        for s, v in values_by_name.items()
    )
    return ColumnScore(name, "numeric", int(window.size), statistics)


def _categorical(
    name: str, column: CategoricalProfile, values: Sequence[object], calibration: Calibration
) -> ColumnScore:
    null = calibration.columns[name]
    level = calibration.level
    counts: dict[str, int] = {}
    for value in values:
        if value is not None:
            counts[str(value)] = counts.get(str(value), 0) + 1
    statistic, pvalue, _ = chi_squared(column.counts, counts)
    expected, actual = proportions(column.counts, counts)
    values_by_name = {
        "chi2": statistic,
        "psi": psi(expected, actual),
        "js": jensen_shannon(expected, actual) if actual.sum() > 0 else 0.0,
    }
    statistics = tuple(
        Statistic(
            s, v, null.threshold(s, level), null.pvalue(s, v), pvalue if s == "chi2" else None
        )
        for s, v in values_by_name.items()
    )
    return ColumnScore(name, "categorical", sum(counts.values()), statistics)


def score_window(
    profile: Profile,
    calibration: Calibration,
    numeric: Mapping[str, np.ndarray],
    categorical: Mapping[str, Sequence[object]] | None = None,
) -> WindowScore:
    """Score every profiled column the window has; a column the profile lacks is an error."""
    if calibration.profile_digest != profile.digest():
        raise ValueError("the calibration was made for another profile")
    categorical = categorical or {}
    scores: list[ColumnScore] = []
    for name, column in profile.columns.items():
        if isinstance(column, NumericProfile):
            if name not in numeric:
                raise KeyError(f"the window has no numeric column {name!r}")
            scores.append(_numeric(name, column, np.asarray(numeric[name], float), calibration))
        else:
            if name not in categorical:
                raise KeyError(f"the window has no categorical column {name!r}")
            scores.append(_categorical(name, column, categorical[name], calibration))
    return WindowScore(tuple(scores), calibration.alpha, calibration.level)
