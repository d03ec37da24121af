"""A sequential test that may stop a canary step early: the one-sided mixture SPRT.

Method: the normal-mixture sequential probability ratio test (mSPRT) of Johari, Koomen,
Pekelis and Walsh, "Always Valid Inference: Continuous Monitoring of A/B Tests" (Operations
Research 70(3), 2022), in its one-sided form (a half-normal mixture over the regression size;
Robbins 1970, Howard et al. 2021 "Time-uniform, nonparametric, nonasymptotic confidence
sequences"). The estimate is the difference of means canary - baseline on the log scale for
positive data (latency: a ratio of geometric means) and on the raw scale otherwise, with its
plug-in variance s_b^2/n_b + s_c^2/n_c; I = 1/variance is the information, S = estimate * I.
For a Gaussian path in information time, exp(theta*S - theta^2*I/2) is a martingale under no
regression, so its mixture M is one too, and Ville's inequality gives
P(exists a look with M >= 1/alpha) <= alpha: the guarantee holds however often one looks,
which is why the caller may call after every batch. With a plug-in variance it holds
asymptotically (Waudby-Smith et al., "Time-uniform central limit theory", 2024); the A/A tests
check it on lognormal and Bernoulli samples.

FAIL needs M >= 1/alpha and the point estimate beyond the effect floor (the floor can only
lower the false-rollback rate). PASS is the mirror test of "the regression is at least the
floor" rejected at the same alpha: a false PASS costs power, not a false rollback.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from covenant.serving.analysis.judge import (
    Direction,
    MetricKind,
    MetricSpec,
    Outcome,
    Verdict,
    as_array,
    bad_effect,
    fmt,
    insufficient,
    relative_effect,
    resolve_kind,
)

DEFAULT_RHO = 0.35  # mixture scale in standard deviations: tuned for regressions of ~0.2-0.5 sd


def log_mixture(score: float, info: float, tau: float) -> float:
    """log M for the half-normal mixture (over theta >= 0) of exp(theta*S - theta^2*I/2)."""
    v = 1.0 + tau * tau * info
    return (
        math.log(2.0)
        - 0.5 * math.log(v)
        + tau * tau * score * score / (2.0 * v)
        + float(norm.logcdf(tau * score / math.sqrt(v)))
    )


@dataclass(frozen=True, slots=True)
class SequentialTest:
    """Stateless: every call sees all samples so far; valid to call after every batch."""

    alpha: float = 0.05
    rho: float = DEFAULT_RHO

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ValueError(f"SequentialTest.alpha must be in (0, 1), got {self.alpha}")
        if not self.rho > 0:
            raise ValueError(f"SequentialTest.rho must be > 0, got {self.rho}")

    def verdict(
        self, metric: MetricSpec, baseline: Sequence[float], canary: Sequence[float]
    ) -> Verdict:
        b = as_array(metric.name, "baseline", baseline)
        c = as_array(metric.name, "canary", canary)
        nb, nc = int(b.size), int(c.size)
        if min(nb, nc) < metric.min_samples:
            return insufficient(metric, "sequential", nb, nc)
        kind = resolve_kind(metric, b, c)
        if kind is MetricKind.POSITIVE:
            tb, tc = np.log(b), np.log(c)
            vb, vc = float(np.var(tb, ddof=1)), float(np.var(tc, ddof=1))
            sb, sc = float(np.exp(tb.mean())), float(np.exp(tc.mean()))
            floor_abs = math.log1p(metric.effect_floor)
            label = "geometric mean"
        elif kind is MetricKind.BINARY:
            tb, tc = b, c
            # Smoothed rates keep the variance above zero when no error has been seen yet.
            pb = (float(b.sum()) + 1) / (nb + 2)
            pc = (float(c.sum()) + 1) / (nc + 2)
            pool = (float(b.sum() + c.sum()) + 1) / (nb + nc + 2)
            vb = vc = max(pool * (1 - pool), pb * (1 - pb), pc * (1 - pc))
            sb, sc = float(b.mean()), float(c.mean())
            floor_abs = metric.effect_floor * max(sb, 0.5 / nb)
            label = "rate"
        else:
            tb, tc = b, c
            vb, vc = float(np.var(b, ddof=1)), float(np.var(c, ddof=1))
            sb, sc = float(b.mean()), float(c.mean())
            floor_abs = metric.effect_floor * abs(sb)
            label = "mean"
        sign = 1.0 if metric.direction is Direction.LOWER_IS_BETTER else -1.0
        worse = sign * float(tc.mean() - tb.mean())  # > 0: the canary is worse
        variance = vb / nb + vc / nc
        effect = relative_effect(kind, sb, sc, nb)
        if kind is MetricKind.POSITIVE:
            effect = sc / sb - 1.0
        if variance <= 0:  # both sides constant
            if worse == 0:
                return self._verdict(metric, Outcome.PASS, nb, nc, 0.0, 1.0, effect, sb, sc,
                                     label, "both sides identical constants")  # fmt: skip
            out = Outcome.FAIL if worse > floor_abs else Outcome.PASS
            return self._verdict(metric, out, nb, nc, math.inf, 0.0, effect, sb, sc, label,
                                 "both sides constant and different")  # fmt: skip
        info = 1.0 / variance
        tau = self.rho * math.sqrt((vb + vc) / 2.0)
        threshold = math.log(1.0 / self.alpha)
        log_m_fail = log_mixture(worse * info, info, tau)
        log_m_pass = log_mixture((floor_abs - worse) * info, info, tau)
        p_fail = min(1.0, math.exp(-log_m_fail))
        beyond = bad_effect(metric, effect) > metric.effect_floor
        if log_m_fail >= threshold and beyond:
            why = f"always-valid p={fmt(p_fail)} < {fmt(self.alpha)} and beyond the floor"
            out = Outcome.FAIL
        elif log_m_pass >= threshold:
            p_pass = math.exp(-log_m_pass)
            why = f"regression below the {metric.effect_floor:.0%} floor, p={fmt(p_pass)}"
            out = Outcome.PASS
        else:
            why = f"always-valid p={fmt(p_fail)}, no boundary crossed yet"
            out = Outcome.INCONCLUSIVE
        return self._verdict(metric, out, nb, nc, log_m_fail, p_fail, effect, sb, sc, label, why)

    def _verdict(
        self, metric: MetricSpec, outcome: Outcome, nb: int, nc: int, stat: float,
        p: float, effect: float, sb: float, sc: float, label: str, why: str,
    ) -> Verdict:  # fmt: skip
        reason = (
            f"{metric.name}: canary {label} {fmt(sc)} vs baseline {fmt(sb)} ({effect:+.1%}), "
            f"n={nc}/{nb}, mSPRT log-LR={fmt(stat)}, {why}: {outcome.value}"
        )
        return Verdict(metric.name, "sequential", outcome, nb, nc, stat, p, effect, sb, sc, reason)


def sequential_verdict(
    metric: MetricSpec, baseline: Sequence[float], canary: Sequence[float], *, alpha: float = 0.05
) -> Verdict:
    return SequentialTest(alpha=alpha).verdict(metric, baseline, canary)
