"""Requests until a decision: sequential (mSPRT, looks every 50) vs fixed-horizon Mann-Whitney,
at the same per-metric alpha, on a 20 % latency regression (lognormal sigma 0.5).

The fixed horizon is the smallest n (grid of 50) at which Mann-Whitney catches >= 95 % of runs.
Usage: python bench/canary_decisions.py [--json] [--runs N]
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from covenant.serving.analysis import Direction, MetricSpec, Outcome, judge, sequential_verdict

ALPHA = 0.05 / 4 / 2 / 2  # step_alpha(4), Bonferroni over 2 metrics, half for each method
LAT = MetricSpec("latency_ms", Direction.LOWER_IS_BETTER)
LOOK, HORIZON = 50, 3000


def _streams(seed: int) -> tuple[list[float], list[float]]:
    rng = np.random.default_rng(seed)
    b = [float(x) for x in rng.lognormal(2.3, 0.5, HORIZON)]
    c = [float(x) for x in rng.lognormal(2.3, 0.5, HORIZON) * 1.2]
    return b, c


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--runs", type=int, default=100)
    args = ap.parse_args()
    runs = [_streams(s) for s in range(args.runs)]
    seq_n = []
    for b, c in runs:
        n = next((n for n in range(LOOK, HORIZON + 1, LOOK)
                  if sequential_verdict(LAT, b[:n], c[:n], alpha=ALPHA).outcome
                  is Outcome.FAIL), HORIZON)  # fmt: skip
        seq_n.append(n)
    fixed = HORIZON
    for n in range(LOOK, HORIZON + 1, LOOK):
        hits = sum(judge(LAT, b[:n], c[:n], alpha=ALPHA).outcome is Outcome.FAIL for b, c in runs)
        if hits >= 0.95 * len(runs):
            fixed = n
            break
    out = {
        "alpha_per_metric_method": ALPHA,
        "runs": len(runs),
        "sequential_mean": float(np.mean(seq_n)),
        "sequential_p50": float(np.percentile(seq_n, 50)),
        "sequential_p95": float(np.percentile(seq_n, 95)),
        "fixed_horizon_95pct_power": fixed,
        "ratio_mean_seq_over_fixed": float(np.mean(seq_n)) / fixed,
    }
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"{'analysis':<28}{'requests to decide (canary side)':>34}")
        print(f"{'sequential mean':<28}{out['sequential_mean']:>34.0f}")
        p50, p95 = out["sequential_p50"], out["sequential_p95"]
        print(f"{'sequential p50 / p95':<28}{p50:>26.0f} / {p95:.0f}")
        print(f"{'fixed horizon (95% power)':<28}{fixed:>34}")
        print(f"ratio sequential mean / fixed: {out['ratio_mean_seq_over_fixed']:.2f}")


if __name__ == "__main__":
    main()
