"""How often clean windows false-alarm against small references: the demo's digits.

The calibrated rate is an average over references as well as windows, so one small
reference can be off. This measures both on scikit-learn's bundled digits (64 pixels
scaled 0-1 and the label as the output column): the demo's own reference (every fifth
row, 360 rows) and random 360-row references, each scored on 200-row windows drawn from
all 1,797 images at the demo's alpha. Nothing is downloaded.

    python bench/drift_false_alarms.py [--references 8] [--windows 200] [--json]
"""

from __future__ import annotations

import argparse
import collections
import json

import numpy as np
from sklearn.datasets import load_digits

from covenant.drift.calibration import calibrate
from covenant.drift.profile import build_profile
from covenant.drift.scoring import score_window

NAMES = [f"p{i}" for i in range(64)]


def rate(
    x: np.ndarray, y: np.ndarray, ref: np.ndarray, windows: int, rows: int, alpha: float, seed: int
) -> tuple[float, collections.Counter[str]]:
    profile = build_profile(
        {n: x[ref][:, i] for i, n in enumerate(NAMES)}, {"output:label": list(y[ref])}
    )
    calibration = calibrate(profile, rows, alpha=alpha)
    rng = np.random.default_rng(seed)
    alarms, columns = 0, collections.Counter[str]()
    for _ in range(windows):
        rows_at = rng.choice(len(x), rows, replace=False)
        score = score_window(
            profile,
            calibration,
            {n: x[rows_at, i] for i, n in enumerate(NAMES)},
            {"output:label": list(y[rows_at])},
        )
        alarms += score.alarm
        columns.update(score.drifted_columns)
    return alarms / windows, columns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--references", type=int, default=8, help="random references")
    parser.add_argument("--windows", type=int, default=200, help="windows per reference")
    parser.add_argument("--rows", type=int, default=200, help="rows per window")
    parser.add_argument("--alpha", type=float, default=0.05, help="stated rate per window")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args()
    digits = load_digits()
    x, y = digits.data / 16.0, digits.target.astype(str)
    demo, demo_columns = rate(
        x, y, np.arange(0, len(x), 5), 2 * args.windows, args.rows, args.alpha, 0
    )
    randoms = []
    for r in range(args.references):
        ref = np.random.default_rng(100 + r).choice(len(x), 360, replace=False)
        randoms.append(rate(x, y, ref, args.windows, args.rows, args.alpha, 200 + r)[0])
    result = {
        "alpha": args.alpha,
        "demoReference": {"rate": demo, "topColumns": demo_columns.most_common(3)},
        "randomReferences": randoms,
        "randomOverall": float(np.mean(randoms)) if randoms else None,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"stated {args.alpha:.1%} per window")
    print(f"demo reference (rows[::5]): {demo:.1%}, most alarmed {demo_columns.most_common(3)}")
    print("random references: " + ", ".join(f"{r:.1%}" for r in randoms))
    if randoms:
        print(f"random references overall: {np.mean(randoms):.1%}")


if __name__ == "__main__":
    main()
