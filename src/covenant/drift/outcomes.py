"""Performance and fairness drift: rates of outcomes, compared with the reference's.

Input drift says the data moved; these say whether it hurt. Both are rates, so both are
judged the same way as the distribution statistics: the null is resampled from the
reference's own rates (a window of the observed size and a replica of the reference's
size, as binomials), and a one-sided threshold is read at the family's ``alpha``.

* Performance: the share of labelled samples the model got right. Labels arrive late
  and partly, so a window is judged on the labels it has; the statistic is the drop
  ``reference accuracy - window accuracy``.
* Fairness: the demographic parity gap, the largest minus the smallest positive-outcome
  rate over the groups of a sensitive attribute (fairlearn's
  ``demographic_parity_difference``). The statistic is the gap's increase over the
  reference's gap; groups the window has too few of to say anything (fewer than
  ``MIN_GROUP``) are left out of both gaps, and counted in ``excluded``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from covenant.drift.scoring import Statistic

MIN_GROUP = 30
DEFAULT_RESAMPLES = 4000


@dataclass(frozen=True)
class Rate:
    """``hits`` out of ``trials``: correct predictions, or positive outcomes of a group."""

    hits: int
    trials: int

    def __post_init__(self) -> None:
        if not 0 <= self.hits <= self.trials:
            raise ValueError(f"hits must lie in [0, trials]: {self.hits} of {self.trials}")

    @property
    def value(self) -> float:
        return self.hits / self.trials if self.trials else math.nan


def _rng(*parts: object) -> np.random.Generator:
    material = "|".join(map(str, parts)).encode()
    return np.random.default_rng(int.from_bytes(hashlib.sha256(material).digest()[:8], "big"))


def _upper(null: np.ndarray, observed: float, alpha: float) -> tuple[float, float]:
    """Threshold and Monte Carlo p-value of a one-sided (large is bad) statistic."""
    null = np.sort(null)
    allowed = math.floor(alpha * (null.size + 1) + 1e-12)
    threshold = math.inf if allowed < 1 else float(null[null.size - allowed])
    exceed = null.size - int(np.searchsorted(null, observed, side="left"))
    return threshold, (1 + exceed) / (null.size + 1)


def performance_drift(
    reference: Rate, window: Rate, *, alpha: float, resamples: int = DEFAULT_RESAMPLES
) -> Statistic:
    """The accuracy drop of a window's labelled samples, against the reference's accuracy."""
    if reference.trials == 0 or window.trials == 0:
        return Statistic("accuracy_drop", 0.0, math.inf, 1.0)
    p = reference.value
    rng = _rng("performance", reference, window.trials, resamples)
    replica = rng.binomial(reference.trials, p, resamples) / reference.trials
    drawn = rng.binomial(window.trials, p, resamples) / window.trials
    observed = p - window.value
    threshold, pvalue = _upper(replica - drawn, observed, alpha)
    return Statistic("accuracy_drop", observed, threshold, pvalue)


def parity_gap(groups: Mapping[str, Rate]) -> float:
    """Largest minus smallest positive rate over the groups with any trials."""
    rates = [g.value for g in groups.values() if g.trials]
    return max(rates) - min(rates) if len(rates) > 1 else 0.0


def fairness_drift(
    reference: Mapping[str, Rate],
    window: Mapping[str, Rate],
    *,
    alpha: float,
    resamples: int = DEFAULT_RESAMPLES,
) -> tuple[Statistic, list[str]]:
    """The parity gap's increase over the reference's, and the groups left out."""
    kept = sorted(
        g
        for g, rate in window.items()
        if rate.trials >= MIN_GROUP and reference.get(g, Rate(0, 0)).trials >= MIN_GROUP
    )
    excluded = sorted(set(window) - set(kept))
    if len(kept) < 2:
        return Statistic("parity_gap_increase", 0.0, math.inf, 1.0), excluded
    ref_rates = np.array([reference[g].value for g in kept])
    ref_trials = np.array([reference[g].trials for g in kept])
    win_trials = np.array([window[g].trials for g in kept])
    observed = parity_gap({g: window[g] for g in kept}) - parity_gap(
        {g: reference[g] for g in kept}
    )
    rng = _rng("fairness", sorted(reference.items()), [window[g].trials for g in kept], resamples)
    replica = rng.binomial(ref_trials, ref_rates, (resamples, len(kept))) / ref_trials
    drawn = rng.binomial(win_trials, ref_rates, (resamples, len(kept))) / win_trials
    null = (drawn.max(axis=1) - drawn.min(axis=1)) - (replica.max(axis=1) - replica.min(axis=1))
    threshold, pvalue = _upper(null, observed, alpha)
    return Statistic("parity_gap_increase", observed, threshold, pvalue), excluded
