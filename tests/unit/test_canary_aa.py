"""A/A canaries hold the stated false-rollback rate; a 20 % regression is caught in time."""

from __future__ import annotations

import numpy as np
from scipy.stats import binom  # type: ignore[import-untyped]

from covenant.serving.analysis import (
    DEFAULT_METRICS,
    FALSE_ROLLBACK_RATE,
    REQUESTS_TO_CATCH_20PCT,
    StepDecision,
    analyse_step,
    step_alpha,
)

STEPS = 4
PER_STEP = 300
LOOK = 100


def _canary(seed: int, slowdown: float) -> tuple[bool, int]:
    """Runs one canary of STEPS steps with looks every LOOK requests; (rolled back, requests)."""
    rng = np.random.default_rng(seed)
    alpha = step_alpha(STEPS)
    seen = 0
    for _ in range(STEPS):
        lb = rng.lognormal(2.3, 0.5, PER_STEP).tolist()
        lc = (rng.lognormal(2.3, 0.5, PER_STEP) * slowdown).tolist()
        eb = (rng.random(PER_STEP) < 0.01).astype(float).tolist()
        ec = (rng.random(PER_STEP) < 0.01).astype(float).tolist()
        for n in range(LOOK, PER_STEP + 1, LOOK):
            seen += LOOK
            a = analyse_step(
                DEFAULT_METRICS,
                {"latency_ms": lb[:n], "error": eb[:n]},
                {"latency_ms": lc[:n], "error": ec[:n]},
                alpha=alpha,
                final=n == PER_STEP,
            )
            if a.decision is StepDecision.FAIL:
                return True, seen
            if a.decision is StepDecision.PASS:
                break
    return False, seen


def test_aa_rollback_rate_within_stated_rate() -> None:
    runs = 200
    rollbacks = sum(_canary(seed, 1.0)[0] for seed in range(runs))
    # The observed count must not exceed the 99th percentile of Binomial(runs, stated rate).
    assert rollbacks <= binom.ppf(0.99, runs, FALSE_ROLLBACK_RATE)


def test_twenty_percent_regression_caught_within_stated_requests() -> None:
    runs = 100
    caught = 0
    for seed in range(runs):
        rolled, seen = _canary(10_000 + seed, 1.2)
        caught += rolled and seen <= REQUESTS_TO_CATCH_20PCT
    assert caught >= 0.95 * runs
