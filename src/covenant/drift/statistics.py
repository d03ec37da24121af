"""Two-sample drift statistics between a weighted reference and a window, without I/O.

The reference is what a profile keeps: a KLL sketch read as distinct values with
weights (``NumericProfile.support``), or exact category counts. The window is the
current rows, exact. Every statistic is the textbook one computed on those two
empirical distributions, so with an exact reference each equals scipy's to rounding:

* Kolmogorov-Smirnov: ``scipy.stats.ks_2samp``'s statistic; its p-value is Smirnov's
  asymptotic one (``ks_2samp(method="asymp")``), from the reference's true row count.
* Wasserstein-1: ``scipy.stats.wasserstein_distance`` with the reference's weights,
  normalised by the reference's standard deviation (ddof 0), as Evidently does.
* PSI and Jensen-Shannon distance over ten bins at the reference's deciles; PSI floors
  empty bins at 1e-4 (Evidently's convention); JS is ``scipy.spatial.distance.
  jensenshannon`` in base 2, so it lies in [0, 1].
* Chi-squared for categories: ``scipy.stats.chi2_contingency(correction=False)``.

Each function is vectorised with numpy and sorts the window once: scoring is a few
milliseconds per feature at thousands of rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

PSI_BINS = 10
PSI_FLOOR = 1e-4


@dataclass(frozen=True)
class WeightedSample:
    """Sorted distinct values with positive weights, and the row count they stand for."""

    values: np.ndarray
    weights: np.ndarray
    rows: int

    def cdf(self) -> np.ndarray:
        """F at each of ``values`` (right-continuous), normalised to end at exactly 1."""
        cumulative = np.cumsum(self.weights)
        return np.asarray(cumulative / cumulative[-1])

    def quantile_edges(self, bins: int = PSI_BINS) -> np.ndarray:
        """Inner bin edges at the reference's 1/bins … (bins-1)/bins quantiles, distinct."""
        cdf = self.cdf()
        targets = np.arange(1, bins) / bins
        index = np.minimum(np.searchsorted(cdf, targets, side="left"), self.values.size - 1)
        return np.unique(self.values[index])


def ks_and_wasserstein(reference: WeightedSample, window_sorted: np.ndarray) -> tuple[float, float]:
    """The KS statistic and W1 together, from one merge of the two sorted samples.

    Both CDFs are accumulated along the merged order; KS reads their gap at the last of
    each run of tied values (where both CDFs are right-continuous), W1 integrates it.
    """
    points = np.concatenate((reference.values, window_sorted))
    ref_mass = np.concatenate(
        (reference.weights / reference.weights.sum(), np.zeros(window_sorted.size))
    )
    win_mass = np.concatenate(
        (np.zeros(reference.values.size), np.full(window_sorted.size, 1.0 / window_sorted.size))
    )
    order = np.argsort(points, kind="stable")
    points = points[order]
    gap = np.abs(np.cumsum(ref_mass[order]) - np.cumsum(win_mass[order]))
    last_of_tie = np.append(points[1:] != points[:-1], True)
    d = float(gap[last_of_tie].max())
    w1 = float(np.dot(gap[:-1], np.diff(points)))
    return d, w1


def ks_pvalues(d: np.ndarray, reference_rows: np.ndarray, window_rows: np.ndarray) -> np.ndarray:
    """Smirnov's asymptotic two-sided p-values, as ``ks_2samp(method="asymp")``: vectorised."""
    m = np.maximum(reference_rows, window_rows).astype(np.float64)
    n = np.minimum(reference_rows, window_rows).astype(np.float64)
    return np.asarray(np.clip(sps.kstwo.sf(d, np.round(m * n / (m + n))), 0.0, 1.0))


def ks(reference: WeightedSample, window_sorted: np.ndarray) -> tuple[float, float]:
    """The two-sided KS statistic and its asymptotic p-value (Smirnov, as scipy's asymp)."""
    d, _ = ks_and_wasserstein(reference, window_sorted)
    rows = np.array([reference.rows]), np.array([window_sorted.size])
    return d, float(ks_pvalues(np.array([d]), *rows)[0])


def wasserstein(reference: WeightedSample, window_sorted: np.ndarray) -> float:
    """W1 between the two empirical distributions: the area between their CDFs."""
    return ks_and_wasserstein(reference, window_sorted)[1]


def normalise(distance: float, reference_std: float) -> float:
    """W1 over the reference's standard deviation; a constant reference gives 0 or inf."""
    if reference_std > 0:
        return distance / reference_std
    return 0.0 if distance == 0 else math.inf


def binned(reference: WeightedSample, window_sorted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reference and window proportions over the bins at the reference's deciles."""
    edges = reference.quantile_edges()
    ref_bins = np.searchsorted(edges, reference.values, side="left")
    ref_mass = np.bincount(ref_bins, weights=reference.weights, minlength=edges.size + 1)
    win_bins = np.searchsorted(edges, window_sorted, side="left")
    win_mass = np.bincount(win_bins, minlength=edges.size + 1).astype(np.float64)
    return ref_mass / ref_mass.sum(), win_mass / max(window_sorted.size, 1)


def psi_rows(expected: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """Population stability index along the last axis; empty bins floored at 1e-4.

    Row-wise so the calibration's resampled nulls and a window's score are one formula.
    """
    e = np.where(expected <= 0, PSI_FLOOR, expected)
    a = np.where(actual <= 0, PSI_FLOOR, actual)
    return np.asarray(np.sum((a - e) * np.log(a / e), axis=-1))


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index of one pair of proportions."""
    return float(psi_rows(expected, actual))


def jensen_shannon_rows(expected: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """Jensen-Shannon distance in base 2 (the square root of the divergence), row-wise."""
    p = np.clip(expected, 0, None)
    p = p / p.sum(axis=-1, keepdims=True)
    q = actual / actual.sum(axis=-1, keepdims=True)
    mid = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        left = np.where(p > 0, p * np.log2(p / mid), 0.0)
        right = np.where(q > 0, q * np.log2(q / mid), 0.0)
    divergence = (left.sum(axis=-1) + right.sum(axis=-1)) / 2
    return np.asarray(np.sqrt(np.clip(divergence, 0, None)))


def jensen_shannon(expected: np.ndarray, actual: np.ndarray) -> float:
    """Jensen-Shannon distance of one pair of proportions."""
    return float(jensen_shannon_rows(expected, actual))


def chi_squared(
    reference: Mapping[str, int], window: Mapping[str, int]
) -> tuple[float, float, int]:
    """Pearson's chi-squared on the 2xK table of counts: statistic, p-value, dof.

    Categories absent from both are dropped; a category only the window has is a column
    like any other (and is what usually makes the statistic large).
    """
    keys = sorted(set(reference) | set(window))
    table = np.array(
        [[reference.get(k, 0) for k in keys], [window.get(k, 0) for k in keys]],
        dtype=np.float64,
    )
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 0.0, 1.0, 0
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    statistic = float(np.sum((table - expected) ** 2 / expected))
    dof = table.shape[1] - 1
    return statistic, float(sps.chi2.sf(statistic, dof)), dof


def proportions(
    reference: Mapping[str, int], window: Mapping[str, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Reference and window proportions over the union of their categories, sorted."""
    keys = sorted(set(reference) | set(window))
    ref = np.array([reference.get(k, 0) for k in keys], dtype=np.float64)
    win = np.array([window.get(k, 0) for k in keys], dtype=np.float64)
    return ref / max(ref.sum(), 1.0), win / max(win.sum(), 1.0)
