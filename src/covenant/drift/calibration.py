"""Thresholds with a stated false-alarm rate, calibrated against the reference by resampling.

A fixed threshold (PSI 0.2, normalised Wasserstein 0.1) says nothing of how often it
fires on data that did not drift: that depends on the window size, the feature's
distribution and how many features are watched. Here the owner states a false-alarm
rate ``alpha`` per window, and the thresholds follow from it:

* Multiple testing: the window alarms when any column's primary test (KS for numeric
  columns, chi-squared for categorical ones) passes its threshold, so each column is
  tested at ``alpha / m`` (Bonferroni over the m columns) and the chance that a window
  with no drift alarms is at most ``alpha`` whatever the columns' dependence.
* Resampling: for each column, ``resamples`` pairs of independent samples are drawn
  from the reference's own distribution, a window of the scored size and a replica of
  the reference's row count, and each statistic is computed between them: the
  statistic's null distribution for this feature, window size and reference size,
  ties included. A window's Monte Carlo p-value is
  ``(1 + #{null >= observed}) / (resamples + 1)``, and the threshold is the smallest
  value whose p-value is at most the column's level (Davison and Hinkley, 1997, ch. 4).
  It is a parametric bootstrap from the estimated reference, so the rate holds
  approximately, not exactly; ``tests/unit/test_drift_calibration.py`` measures it.
* The draws are made on the reference's support merged into ``CELLS_PER_BIN`` equal-mass
  cells per PSI bin (about 1,000 per column): five times faster than the sketch's
  ~5,000 points, with thresholds within the resampling noise of the full grid.
* A replica of more than ``BRIDGE_ROWS`` rows is drawn as its ECDF's Gaussian limit (a
  Brownian bridge over the reference's CDF); smaller ones exactly, as multinomials.
* A sketched reference is itself off by up to the sketch's rank error, and the
  resampling does not see that, so the KS threshold is raised by it: the stated rate
  stays an upper bound. Nor does it see values the reference never drew (a pixel 0 in
  every reference row), so the KS threshold is never below :func:`unseen_floor`. The
  other statistics carry no such margin; they are reported with their calibrated
  thresholds but do not raise the window's alarm.

The draws are seeded from the profile's digest and the window size, so anyone holding
the profile recomputes the same thresholds.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from covenant.drift.profile import CategoricalProfile, NumericProfile, Profile
from covenant.drift.statistics import WeightedSample, jensen_shannon_rows, psi_rows

DEFAULT_ALPHA = 0.05
DEFAULT_RESAMPLES = 2000
BRIDGE_ROWS = 20_000
CELLS_PER_BIN = 100
_CHUNK = 200

NUMERIC_STATISTICS = ("ks", "wasserstein", "psi", "js")
CATEGORICAL_STATISTICS = ("chi2", "psi", "js")
PRIMARY = {"numeric": "ks", "categorical": "chi2"}


@dataclass(frozen=True)
class ColumnNull:
    """One column's sorted null samples per statistic, and the margin added to the primary."""

    kind: str
    null: dict[str, np.ndarray]
    margin: float
    #: (reference rows, window rows) of a numeric column, for the unseen-mass floor.
    rows: tuple[int, int] | None = None

    def pvalue(self, statistic: str, observed: float) -> float:
        null = self.null[statistic]
        exceed = null.size - int(np.searchsorted(null, observed, side="left"))
        return (1 + exceed) / (null.size + 1)

    def threshold(self, statistic: str, level: float) -> float:
        """The value a statistic must exceed for its Monte Carlo p-value to be <= ``level``."""
        null = self.null[statistic]
        allowed = math.floor(level * (null.size + 1) + 1e-12)
        if allowed < 1:
            return math.inf
        value = float(null[null.size - allowed])
        if statistic != PRIMARY[self.kind]:
            return value
        floor = unseen_floor(*self.rows, level) if self.rows is not None else 0.0
        return max(value + self.margin, floor)


def unseen_floor(reference_rows: int, window_rows: int, level: float) -> float:
    """The KS a window can show from values its reference never drew.

    Resampling the reference sees only what the reference holds: a pixel that was 0
    in all 360 reference rows gets a null of exact zeros and a threshold of 0, and
    one window with two nonzero rows alarms. But a reference of n rows can miss mass
    up to ``-ln(level) / n`` of the true distribution (with probability ``level``),
    and a window of m rows shows that mass at up to its binomial ``1 - level``
    quantile over m. Below that, a KS is no evidence of drift. The floor is
    negligible for large references (about 0.002 for 20,000 reference and 5,000
    window rows at the default level over 20 columns) and binds only on small ones.
    """
    from scipy.stats import binom

    unseen = min(1.0, -math.log(level) / max(reference_rows, 1))
    return float(binom.ppf(1 - level, window_rows, unseen)) / window_rows


@dataclass(frozen=True)
class Calibration:
    """The thresholds for windows of ``window_rows`` rows against one profile."""

    profile_digest: str
    window_rows: int
    alpha: float
    resamples: int
    columns: dict[str, ColumnNull]

    @property
    def level(self) -> float:
        """Each column's level after the Bonferroni correction."""
        return self.alpha / max(len(self.columns), 1)


def _seed(digest: str, window_rows: int, resamples: int, column: str) -> int:
    material = f"{digest}|{window_rows}|{resamples}|{column}".encode()
    return int.from_bytes(hashlib.sha256(material).digest()[:8], "big")


def _replica_cdf(rng: np.random.Generator, p: np.ndarray, rows: int, b: int) -> np.ndarray:
    if rows > BRIDGE_ROWS:
        steps = rng.standard_normal((b, p.size)) * np.sqrt(p)
        walk = np.cumsum(steps, axis=1)
        cdf = np.cumsum(p)
        bridge = walk - cdf * walk[:, -1:]
        return np.asarray(cdf + bridge / math.sqrt(rows))
    return np.asarray(np.cumsum(rng.multinomial(rows, p, size=b), axis=1) / rows)


def _coarsen(
    values: np.ndarray, p: np.ndarray, edges: np.ndarray, per_bin: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge neighbouring support points into about ``per_bin`` equal-mass cells per PSI bin.

    Cells never straddle a PSI bin edge. Returns each cell's right-most value, its mass
    and its PSI bin.
    """
    bin_of = np.searchsorted(edges, values, side="left")
    bin_mass = np.bincount(bin_of, weights=p, minlength=edges.size + 1)
    before = np.concatenate(([0.0], np.cumsum(bin_mass)))[bin_of]
    centre = np.cumsum(p) - p / 2 - before
    sub = np.minimum((centre / bin_mass[bin_of] * per_bin).astype(np.int64), per_bin - 1)
    cell = bin_of * per_bin + sub
    starts = np.concatenate(([0], np.flatnonzero(np.diff(cell)) + 1))
    ends = np.concatenate((starts[1:], [values.size])) - 1
    return values[ends], np.add.reduceat(p, starts), bin_of[starts]


def _numeric_null(
    column: NumericProfile, n: int, resamples: int, rng: np.random.Generator
) -> ColumnNull:
    support, weights = column.support()
    if support.size == 0:
        return ColumnNull("numeric", {s: np.zeros(resamples) for s in NUMERIC_STATISTICS}, 0.0)
    reference = WeightedSample(support, weights, column.moments.count)
    edges = reference.quantile_edges()
    values, p, bin_of = _coarsen(support, weights / weights.sum(), edges, CELLS_PER_BIN)
    bin_starts = np.concatenate(([0], np.flatnonzero(np.diff(bin_of)) + 1))
    deltas = np.diff(values)
    std = column.moments.std
    out: dict[str, list[np.ndarray]] = {s: [] for s in NUMERIC_STATISTICS}
    for start in range(0, resamples, _CHUNK):
        b = min(_CHUNK, resamples - start)
        window_cdf = np.cumsum(rng.multinomial(n, p, size=b), axis=1) / n
        replica_cdf = _replica_cdf(rng, p, reference.rows, b)
        gap = np.abs(window_cdf - replica_cdf)
        out["ks"].append(gap.max(axis=1))
        w1 = (gap[:, :-1] * deltas).sum(axis=1)
        out["wasserstein"].append(w1 / std if std > 0 else np.where(w1 > 0, np.inf, 0.0))
        window_pdf = np.diff(window_cdf, axis=1, prepend=0.0)
        replica_pdf = np.diff(replica_cdf, axis=1, prepend=0.0)
        window_bins = np.add.reduceat(window_pdf, bin_starts, axis=1)
        replica_bins = np.add.reduceat(replica_pdf, bin_starts, axis=1)
        out["psi"].append(psi_rows(replica_bins, window_bins))
        out["js"].append(jensen_shannon_rows(replica_bins, window_bins))
    null = {s: np.sort(np.concatenate(parts)) for s, parts in out.items()}
    return ColumnNull("numeric", null, column.rank_error, (reference.rows, n))


def _categorical_null(
    column: CategoricalProfile, n: int, resamples: int, rng: np.random.Generator
) -> ColumnNull:
    counts = np.array([column.counts[k] for k in sorted(column.counts)], dtype=np.float64)
    rows = int(counts.sum())
    if rows == 0 or counts.size < 2:
        return ColumnNull(
            "categorical", {s: np.zeros(resamples) for s in CATEGORICAL_STATISTICS}, 0.0
        )
    p = counts / rows
    window = rng.multinomial(n, p, size=resamples).astype(np.float64)
    replica = rng.multinomial(rows, p, size=resamples).astype(np.float64)
    table = np.stack((replica, window), axis=1)
    column_sums = table.sum(axis=1, keepdims=True)
    expected = table.sum(axis=2, keepdims=True) * column_sums / (rows + n)
    with np.errstate(divide="ignore", invalid="ignore"):
        cells = np.where(expected > 0, (table - expected) ** 2 / expected, 0.0)
    null = {
        "chi2": np.sort(cells.sum(axis=(1, 2))),
        "psi": np.sort(psi_rows(replica / rows, window / n)),
        "js": np.sort(jensen_shannon_rows(replica / rows, window / n)),
    }
    return ColumnNull("categorical", null, 0.0)


def calibrate(
    profile: Profile,
    window_rows: int,
    *,
    alpha: float = DEFAULT_ALPHA,
    resamples: int = DEFAULT_RESAMPLES,
) -> Calibration:
    """Null distributions of every statistic of every column, for one window size.

    ``resamples`` is raised to ``ceil(columns / alpha)`` when below it (the returned
    calibration says how many were drawn)."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha is a probability in (0, 1), not {alpha}")
    if window_rows < 1:
        raise ValueError(f"a window has at least one row, not {window_rows}")
    # A Monte Carlo p-value is never below 1 / (resamples + 1): with fewer resamples
    # than columns / alpha no column's level could be reached and every threshold
    # would be infinite (nothing ever alarms). Raised to the least that reaches it.
    resamples = max(resamples, math.ceil(max(len(profile.columns), 1) / alpha))
    digest = profile.digest()
    columns: dict[str, ColumnNull] = {}
    for name, column in profile.columns.items():
        rng = np.random.default_rng(_seed(digest, window_rows, resamples, name))
        if isinstance(column, NumericProfile):
            columns[name] = _numeric_null(column, window_rows, resamples, rng)
        else:
            columns[name] = _categorical_null(column, window_rows, resamples, rng)
    return Calibration(digest, window_rows, alpha, resamples, columns)
