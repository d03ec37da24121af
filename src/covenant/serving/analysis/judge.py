"""Kayenta's fixed-horizon judgement: Mann-Whitney U with an effect floor and a minimum sample.

Why a floor: with thousands of requests almost any difference is significant, and a canary
must not be rolled back for being 1 % slower. Why a minimum sample: below it the rank test has
no power and a "pass" would only mean "we did not look". Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from scipy.stats import mannwhitneyu


class Direction(StrEnum):
    LOWER_IS_BETTER = "lower_is_better"
    HIGHER_IS_BETTER = "higher_is_better"


class MetricKind(StrEnum):
    """How samples are summarised; AUTO picks BINARY for 0/1 data, POSITIVE for data > 0."""

    AUTO = "auto"
    BINARY = "binary"  # rates: mean, effect = (p_c - p_b) / p_b
    POSITIVE = "positive"  # latencies: medians (judge), geometric means (sequential)
    CONTINUOUS = "continuous"  # anything else: means, effect relative to |baseline mean|


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INSUFFICIENT = "insufficient"
    INCONCLUSIVE = "inconclusive"  # sequential only: enough samples, no boundary crossed yet


@dataclass(frozen=True, slots=True)
class MetricSpec:
    name: str
    direction: Direction
    effect_floor: float = 0.10
    min_samples: int = 50
    critical: bool = False
    kind: MetricKind = MetricKind.AUTO

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("MetricSpec.name must not be empty")
        if not (self.effect_floor >= 0 and math.isfinite(self.effect_floor)):
            raise ValueError(f"MetricSpec.effect_floor must be >= 0, got {self.effect_floor}")
        if self.min_samples < 2:
            raise ValueError(f"MetricSpec.min_samples must be >= 2, got {self.min_samples}")


DEFAULT_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("latency_ms", Direction.LOWER_IS_BETTER, critical=True, kind=MetricKind.POSITIVE),
    MetricSpec("error", Direction.LOWER_IS_BETTER, critical=True, kind=MetricKind.BINARY),
)


@dataclass(frozen=True, slots=True)
class Verdict:
    """One metric's judgement. ``effect`` is the relative change canary vs baseline (+0.2 =
    canary 20 % higher), on the summary named by the method: ratio of medians - 1 for
    Mann-Whitney on positive data, ratio of geometric means - 1 for the sequential test,
    difference of rates / baseline rate for binary data (the baseline rate floored at half a
    count so a zero-error baseline gives a finite effect)."""

    metric: str
    method: str
    outcome: Outcome
    n_baseline: int
    n_canary: int
    statistic: float | None
    p_value: float | None
    effect: float | None
    baseline_summary: float | None
    canary_summary: float | None
    reason: str


def as_array(name: str, side: str, values: Sequence[float]) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name}: {side} samples must be a flat sequence of numbers")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: {side} samples contain NaN or infinity")
    return arr


def resolve_kind(metric: MetricSpec, b: np.ndarray, c: np.ndarray) -> MetricKind:
    if metric.kind is not MetricKind.AUTO:
        kind = metric.kind
    else:
        both = np.concatenate([b, c])
        if both.size and np.all((both == 0) | (both == 1)):
            kind = MetricKind.BINARY
        elif both.size and np.all(both > 0):
            kind = MetricKind.POSITIVE
        else:
            kind = MetricKind.CONTINUOUS
    if kind is MetricKind.BINARY and not np.all(np.isin(np.concatenate([b, c]), (0.0, 1.0))):
        raise ValueError(f"{metric.name}: binary metric samples must be 0 or 1")
    if kind is MetricKind.POSITIVE and (np.any(b <= 0) or np.any(c <= 0)):
        raise ValueError(f"{metric.name}: positive metric samples must be > 0")
    return kind


def relative_effect(kind: MetricKind, base: float, canary: float, n_baseline: int) -> float:
    if kind is MetricKind.BINARY:
        return (canary - base) / max(base, 0.5 / max(n_baseline, 1))
    if base == 0:
        return 0.0 if canary == 0 else math.copysign(1.0, canary) * 1e9
    return (canary - base) / abs(base)


def bad_effect(metric: MetricSpec, effect: float) -> float:
    """The effect in the bad direction: positive means the canary is worse."""
    return effect if metric.direction is Direction.LOWER_IS_BETTER else -effect


def insufficient(metric: MetricSpec, method: str, nb: int, nc: int) -> Verdict:
    """The verdict of a metric with fewer than ``min_samples`` on a side: no judgement."""
    return Verdict(
        metric.name, method, Outcome.INSUFFICIENT, nb, nc, None, None, None, None, None,
        f"{metric.name}: {nb} baseline and {nc} canary samples, fewer than the "
        f"{metric.min_samples} per side needed: insufficient",
    )  # fmt: skip


def fmt(value: float) -> str:
    return f"{value:.4g}"


def judge(
    metric: MetricSpec, baseline: Sequence[float], canary: Sequence[float], *, alpha: float = 0.05
) -> Verdict:
    """One-sided Mann-Whitney U (H1: canary worse); FAIL needs p < alpha AND the relative
    change of the summaries (medians, or rates for 0/1 data) beyond the floor."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    b = as_array(metric.name, "baseline", baseline)
    c = as_array(metric.name, "canary", canary)
    nb, nc = int(b.size), int(c.size)
    if min(nb, nc) < metric.min_samples:
        return insufficient(metric, "mann_whitney", nb, nc)
    kind = resolve_kind(metric, b, c)
    if kind is MetricKind.POSITIVE:
        sb, sc, label = float(np.median(b)), float(np.median(c)), "median"
    else:
        sb, sc, label = float(np.mean(b)), float(np.mean(c)), "mean"
    effect = relative_effect(kind, sb, sc, nb)
    worse = "greater" if metric.direction is Direction.LOWER_IS_BETTER else "less"
    if np.all(b == b[0]) and np.all(c == b[0]):
        u, p = nb * nc / 2.0, 1.0  # identical constants: scipy warns, nothing differs
    else:
        res = mannwhitneyu(c, b, alternative=worse, method="asymptotic")
        u, p = float(res.statistic), float(res.pvalue)
    significant = p < alpha
    beyond = bad_effect(metric, effect) > metric.effect_floor
    outcome = Outcome.FAIL if significant and beyond else Outcome.PASS
    why = (
        f"p={fmt(p)} < {fmt(alpha)} and beyond the {metric.effect_floor:.0%} floor"
        if outcome is Outcome.FAIL
        else (
            f"p={fmt(p)} >= {fmt(alpha)}"
            if not significant
            else f"p={fmt(p)} < {fmt(alpha)} but within the {metric.effect_floor:.0%} floor"
        )
    )
    reason = (
        f"{metric.name}: canary {label} {fmt(sc)} vs baseline {fmt(sb)} ({effect:+.1%}), "
        f"n={nc}/{nb}, U={fmt(u)}, {why}: {outcome.value}"
    )
    return Verdict(metric.name, "mann_whitney", outcome, nb, nc, u, p, effect, sb, sc, reason)
