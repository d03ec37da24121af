"""Covenant's drift statistics against Evidently's DataDriftPreset and NannyML, side by side.

Synthetic numeric data (reference and current frames of the same size, a quarter of the
columns shifted by 0.3 sigma), at 200k x 20 and 1M x 100, all in one run:

* "same verdicts": Evidently 0.7's DataDriftPreset scores a numeric column of more than
  1,000 reference rows with W1 / max(std(reference), 0.001), drift when >= 0.1. Covenant
  builds a KLL profile of the reference once (training time) and scores the current
  frame with ``ks_and_wasserstein`` + ``normalise`` against ``NumericProfile.support()``.
  Per-column verdicts must be identical; the scores differ by the sketch's error.
* NannyML's UnivariateDriftCalculator (wasserstein + kolmogorov_smirnov), one chunk.
* Streaming: Covenant's full ``score_window`` with ``calibrate``d thresholds over 5,000-row
  windows, rows x features per second on one core, and peak memory at 10 vs 100 windows.

Evidently and NannyML run in forked children (so an OOM or the --evidently-timeout kills
only the child). BLAS/OpenMP threads are pinned to --threads (default 1) by re-executing
with OMP/MKL/OPENBLAS_NUM_THREADS set. Ratios only; no timed assertions.

Usage: python bench/drift_vs_evidently.py [--quick] [--json] [--threads N] [--repeats N]
Needs the bench venv (bench/README-drift.md), not the project's.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import platform
import resource
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

THREAD_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "POLARS_MAX_THREADS",
)
QUIET_VARS = {"DO_NOT_TRACK": "1", "NML_DISABLE_USAGE_LOGGING": "1"}
SHIFT_SIGMA = 0.3
THRESHOLD = 0.1  # Evidently's default for "wasserstein" (normed), compared with >=
SEED = 20260
WINDOW_ROWS = 5000


# --- data -------------------------------------------------------------------------------


def make_frames(rows: int, cols: int, seed: int = SEED) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Reference and current as (cols, rows) float64; the first quarter of columns drift."""
    names = [f"f{i:03d}" for i in range(cols)]
    drifted = cols // 4
    ref = np.empty((cols, rows))
    cur = np.empty((cols, rows))
    for i in range(cols):
        # Same parameters for both frames (same seed), independent draws (different seed).
        kind, shift = i % 4, SHIFT_SIGMA if i < drifted else 0.0
        params = np.random.default_rng([seed, i, 0])
        ref[i] = _window_column(params, np.random.default_rng([seed, i, 3]), kind, rows, 0.0)
        params = np.random.default_rng([seed, i, 0])
        cur[i] = _window_column(params, np.random.default_rng([seed, i, 1]), kind, rows, shift)
    return ref, cur, names


def _window_column(
    params: np.random.Generator, draws: np.random.Generator, kind: int, rows: int, shift: float
) -> np.ndarray:
    """One column: normal, lognormal, uniform or exponential (by ``kind``), shifted by
    ``shift`` of its standard deviation; its parameters drawn from ``params``."""
    if kind == 0:
        loc, scale = params.uniform(-5, 5), params.uniform(0.5, 20)
        return draws.normal(loc, scale, rows) + shift * scale
    if kind == 1:
        sigma = 0.5
        std = math.sqrt((math.exp(sigma**2) - 1) * math.exp(sigma**2))
        return draws.lognormal(0.0, sigma, rows) + shift * std
    if kind == 2:
        width = params.uniform(1, 100)
        return draws.uniform(0, width, rows) + shift * width / math.sqrt(12)
    scale = params.uniform(0.1, 10)
    return draws.exponential(scale, rows) + shift * scale


def _frame(data: np.ndarray, names: list[str]) -> Any:
    import pandas as pd

    return pd.DataFrame(dict(zip(names, data, strict=True)), copy=False)


# --- helpers ----------------------------------------------------------------------------


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _in_child(fn: Callable[..., Any], args: tuple[Any, ...], timeout: float) -> dict[str, Any]:
    """Run ``fn(*args)`` in a forked child; its dict result, or why there is none."""
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)

    def target() -> None:
        try:
            child.send(fn(*args))
        except BaseException as exc:  # report anything, MemoryError included
            child.send({"error": f"{type(exc).__name__}: {exc}"})

    proc = ctx.Process(target=target)
    start = time.perf_counter()
    proc.start()
    if not parent.poll(timeout):
        proc.kill()
        proc.join()
        return {"error": f"no result after {time.perf_counter() - start:.0f} s (killed)"}
    try:
        result: dict[str, Any] = parent.recv()
    except EOFError:
        result = {"error": "child died without a result"}
    proc.join()
    if proc.exitcode not in (0, None):
        result.setdefault("error", f"child exit code {proc.exitcode} (OOM-killed?)")
    return result


# --- Evidently --------------------------------------------------------------------------


def evidently_run(ref: np.ndarray, cur: np.ndarray, names: list[str], repeats: int) -> dict:
    import evidently
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    ref_df, cur_df = _frame(ref, names), _frame(cur, names)
    rss_before = _peak_rss_mb()
    times: list[float] = []
    scores: dict[str, float] = {}
    drifted_count = None
    for _ in range(repeats):
        start = time.perf_counter()
        definition = DataDefinition(numerical_columns=list(names))
        report = Report([DataDriftPreset()])
        snapshot = report.run(
            Dataset.from_pandas(cur_df, data_definition=definition),
            Dataset.from_pandas(ref_df, data_definition=definition),
        )
        times.append(time.perf_counter() - start)
        scores = {}
        for metric in snapshot.dict()["metrics"]:
            config = metric["config"]
            if config.get("type", "").endswith("ValueDrift"):
                if "Wasserstein" not in config.get("method", ""):
                    raise RuntimeError(f"Evidently chose {config.get('method')}, not Wasserstein")
                scores[config["column"]] = float(metric["value"])
            elif config.get("type", "").endswith("DriftedColumnsCount"):
                drifted_count = int(metric["value"]["count"])
    return {
        "version": evidently.__version__,
        "times": times,
        "scores": scores,
        "drifted_count": drifted_count,
        "peak_rss_mb": _peak_rss_mb(),
        "rss_at_start_mb": rss_before,
    }


# --- NannyML ----------------------------------------------------------------------------


def nannyml_run(ref: np.ndarray, cur: np.ndarray, names: list[str], repeats: int) -> dict:
    import nannyml as nml

    ref_df, cur_df = _frame(ref, names), _frame(cur, names)
    out: dict[str, Any] = {"version": nml.__version__}
    for methods in (["wasserstein"], ["wasserstein", "kolmogorov_smirnov"]):
        times: list[float] = []
        values: dict[str, float] = {}
        for _ in range(repeats):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "the resulting number of chunks is too low"
                start = time.perf_counter()
                calc = nml.UnivariateDriftCalculator(
                    column_names=list(names), continuous_methods=methods, chunk_number=1
                )
                calc.fit(ref_df)
                result = calc.calculate(cur_df)
                times.append(time.perf_counter() - start)
            frame = result.filter(period="analysis").to_df()
            values = {n: float(frame[(n, "wasserstein", "value")].iloc[0]) for n in names}
        out["+".join(methods)] = {"times": times, "wasserstein": values}
    out["peak_rss_mb"] = _peak_rss_mb()
    return out


# --- Covenant ---------------------------------------------------------------------------


def covenant_same_verdicts(
    ref: np.ndarray, cur: np.ndarray, names: list[str], repeats: int
) -> dict[str, Any]:
    from covenant.drift.profile import NumericProfile, build_profile
    from covenant.drift.statistics import WeightedSample, ks_and_wasserstein, normalise

    profile_times: list[float] = []
    profile = None
    for _ in range(repeats):
        start = time.perf_counter()
        profile = build_profile(dict(zip(names, ref, strict=True)))
        profile_times.append(time.perf_counter() - start)
    assert profile is not None
    score_times: list[float] = []
    scores: dict[str, float] = {}
    ks_stats: dict[str, float] = {}
    for _ in range(repeats):
        # Fresh NumericProfile objects: support() is computed (not cached) in every repeat,
        # as it is the first time a profile read from the store is scored.
        columns = {}
        for name in names:
            column = profile.columns[name]
            assert isinstance(column, NumericProfile)
            columns[name] = NumericProfile(column.sketch, column.moments)
        start = time.perf_counter()
        for i, name in enumerate(names):
            column = columns[name]
            support, weights = column.support()
            reference = WeightedSample(support, weights, column.moments.count)
            window = cur[i]
            window = np.sort(window[np.isfinite(window)])
            d, w1 = ks_and_wasserstein(reference, window)
            scores[name] = normalise(w1, column.moments.std)
            ks_stats[name] = d
        score_times.append(time.perf_counter() - start)
    sizes = [len(profile.to_bytes())]
    return {
        "profile_times": profile_times,
        "score_times": score_times,
        "scores": scores,
        "ks": ks_stats,
        "profile_bytes": sizes[0],
        "profile": profile,
    }


def covenant_streaming(
    profile: Any, names: list[str], windows: int, memory_windows: tuple[int, ...]
) -> dict[str, Any]:
    from covenant.drift.calibration import calibrate
    from covenant.drift.scoring import score_window

    start = time.perf_counter()
    calibration = calibrate(profile, WINDOW_ROWS)
    calibration_s = time.perf_counter() - start

    def window(seed: int) -> dict[str, np.ndarray]:
        out = {}
        for i, name in enumerate(names):
            params = np.random.default_rng([SEED, i, 0])
            draws = np.random.default_rng([SEED, i, 2, seed])
            shift = SHIFT_SIGMA if (i < len(names) // 4 and seed % 2) else 0.0
            out[name] = _window_column(params, draws, i % 4, WINDOW_ROWS, shift)
        return out

    elapsed = 0.0
    alarms = 0
    for w in range(windows):
        data = window(w)
        start = time.perf_counter()
        alarms += score_window(profile, calibration, data).alarm
        elapsed += time.perf_counter() - start
    memory: dict[str, dict[str, float]] = {}
    for count in memory_windows:
        tracemalloc.start()
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        for w in range(count):
            score_window(profile, calibration, window(10_000 + w))
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        memory[str(count)] = {
            "peak_mb": (peak - base) / 2**20,
            "retained_mb": (current - base) / 2**20,
        }
    cells = windows * WINDOW_ROWS * len(names)
    return {
        "features": len(names),
        "windows": windows,
        "calibration_s": calibration_s,
        "score_s": elapsed,
        "per_window_ms": 1000 * elapsed / windows,
        "cells_per_s": cells / elapsed,
        "alarms": alarms,
        "alarms_expected": windows // 2,
        "tracemalloc": memory,
    }


# --- driver -----------------------------------------------------------------------------


def _best(times: list[float]) -> float:
    return min(times)


def compare(
    rows: int, cols: int, repeats: int, evidently_repeats: int, timeout: float
) -> dict[str, Any]:
    start = time.perf_counter()
    ref, cur, names = make_frames(rows, cols)
    gen_s = time.perf_counter() - start
    print(f"[{rows}x{cols}] data generated in {gen_s:.1f} s", file=sys.stderr, flush=True)
    ev = _in_child(evidently_run, (ref, cur, names, evidently_repeats), timeout)
    print(f"[{rows}x{cols}] evidently: {ev.get('times', ev.get('error'))}", file=sys.stderr)
    nm = _in_child(nannyml_run, (ref, cur, names, repeats), timeout)
    print(f"[{rows}x{cols}] nannyml done", file=sys.stderr, flush=True)
    cov = covenant_same_verdicts(ref, cur, names, repeats)
    print(f"[{rows}x{cols}] covenant: {cov['score_times']}", file=sys.stderr, flush=True)
    truth = {n: i < cols // 4 for i, n in enumerate(names)}
    out: dict[str, Any] = {
        "rows": rows,
        "cols": cols,
        "drifted_columns_true": sum(truth.values()),
        "covenant_profile_s": _best(cov["profile_times"]),
        "covenant_profile_times": cov["profile_times"],
        "covenant_score_s": _best(cov["score_times"]),
        "covenant_score_times": cov["score_times"],
        "covenant_profile_bytes": cov["profile_bytes"],
        "covenant_verdicts_match_truth": all(
            (cov["scores"][n] >= THRESHOLD) == truth[n] for n in names
        ),
    }
    if "error" not in ev:
        ev_verdicts = {n: s >= THRESHOLD for n, s in ev["scores"].items()}
        cov_verdicts = {n: cov["scores"][n] >= THRESHOLD for n in names}
        diffs = [abs(cov["scores"][n] - ev["scores"][n]) for n in names]
        margin = min(abs(ev["scores"][n] - THRESHOLD) for n in names)
        ev_s = _best(ev["times"])
        out.update(
            evidently_version=ev["version"],
            evidently_s=ev_s,
            evidently_times=ev["times"],
            evidently_peak_rss_mb=ev["peak_rss_mb"],
            evidently_drifted_count=ev["drifted_count"],
            verdicts_identical=ev_verdicts == cov_verdicts,
            evidently_verdict_count_matches=sum(ev_verdicts.values()) == ev["drifted_count"],
            max_abs_score_diff=max(diffs),
            max_rel_score_diff=max(
                d / max(ev["scores"][n], 1e-12) for d, n in zip(diffs, names, strict=True)
            ),
            closest_score_to_threshold=margin,
            ratio_evidently_over_covenant_score=ev_s / out["covenant_score_s"],
            ratio_evidently_over_covenant_profile_plus_score=ev_s
            / (out["covenant_score_s"] + out["covenant_profile_s"]),
            scores_side_by_side={
                n: [round(ev["scores"][n], 6), round(cov["scores"][n], 6)] for n in names
            },
        )
    else:
        out["evidently_error"] = ev["error"]
    if "error" not in nm:
        out["nannyml_version"] = nm["version"]
        out["nannyml_peak_rss_mb"] = nm["peak_rss_mb"]
        for key, label in (("wasserstein", "w"), ("wasserstein+kolmogorov_smirnov", "w_ks")):
            nm_s = _best(nm[key]["times"])
            out[f"nannyml_{label}_s"] = nm_s
            out[f"nannyml_{label}_times"] = nm[key]["times"]
            out[f"ratio_nannyml_{label}_over_covenant_score"] = nm_s / out["covenant_score_s"]
        # NannyML's Wasserstein is not normalised; divide by Covenant's exact std to compare.
        out["nannyml_w_detects_shift"] = all(
            (
                nm["wasserstein"]["wasserstein"][n] / cov["profile"].columns[n].moments.std
                >= THRESHOLD
            )
            == truth[n]
            for n in names
        )
    else:
        out["nannyml_error"] = nm["error"]
    out["_profile"] = cov["profile"]
    out["_names"] = names
    return out


def _print_table(results: list[dict[str, Any]], streams: list[dict[str, Any]]) -> None:
    def f(value: Any, spec: str = ".2f") -> str:
        return format(value, spec) if isinstance(value, int | float) else str(value)

    print(
        "| size | Evidently s | NannyML W s | NannyML W+KS s | Covenant profile s "
        "| Covenant score s | Evidently/score | Evidently/(profile+score) "
        "| NannyML W/score | verdicts identical | max score diff |"
    )
    print("|" + "---|" * 11)
    for r in results:
        print(
            f"| {r['rows']:,} x {r['cols']} | {f(r.get('evidently_s', r.get('evidently_error')))} "
            f"| {f(r.get('nannyml_w_s', r.get('nannyml_error')))} | {f(r.get('nannyml_w_ks_s'))} "
            f"| {f(r['covenant_profile_s'])} | {f(r['covenant_score_s'], '.3f')} "
            f"| {f(r.get('ratio_evidently_over_covenant_score'), '.1f')} "
            f"| {f(r.get('ratio_evidently_over_covenant_profile_plus_score'), '.1f')} "
            f"| {f(r.get('ratio_nannyml_w_over_covenant_score'), '.1f')} "
            f"| {'yes' if r.get('verdicts_identical') else 'NO'} "
            f"| {f(r.get('max_abs_score_diff'), '.2e')} |"
        )
    print()
    print(
        "| features | calibration s | windows | ms / window | rows x features / s "
        "| alarms (expected) | tracemalloc peak MB at N windows |"
    )
    print("|---|---|---|---|---|---|---|")
    for s in streams:
        mem = ", ".join(f"{k}: {v['peak_mb']:.1f}" for k, v in s["tracemalloc"].items())
        print(
            f"| {s['features']} | {s['calibration_s']:.2f} | {s['windows']} "
            f"| {s['per_window_ms']:.1f} | {s['cells_per_s']:,.0f} "
            f"| {s['alarms']} ({s['alarms_expected']}) | {mem} |"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    ap.add_argument("--json", action="store_true", help="print the full results as JSON")
    ap.add_argument("--json-out", default=None, help="also write the full results as JSON here")
    ap.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads (default 1)")
    ap.add_argument("--repeats", type=int, default=3, help="repeats of cheap measurements")
    ap.add_argument(
        "--large-evidently-repeats",
        type=int,
        default=1,
        help="Evidently repeats at the largest size (default 1: it takes minutes)",
    )
    ap.add_argument("--evidently-timeout", type=float, default=900, help="seconds per child")
    ap.add_argument("--windows", type=int, default=100, help="streaming windows timed")
    ap.add_argument("--sizes", default=None, help="ROWSxCOLS,... (default 200000x20,1000000x100)")
    args = ap.parse_args()

    wanted = {v: str(args.threads) for v in THREAD_VARS} | QUIET_VARS
    if any(os.environ.get(k) != v for k, v in wanted.items()):
        os.environ.update(wanted)
        os.execv(sys.executable, [sys.executable, *sys.argv])

    if args.sizes:
        sizes = [tuple(int(x) for x in s.split("x")) for s in args.sizes.split(",")]
    elif args.quick:
        sizes = [(20_000, 8), (50_000, 20)]
    else:
        sizes = [(200_000, 20), (1_000_000, 100)]
    windows = 10 if args.quick else args.windows
    memory_windows = (3, 10) if args.quick else (10, 100)

    results = []
    for i, (rows, cols) in enumerate(sizes):
        ev_repeats = args.large_evidently_repeats if i == len(sizes) - 1 else args.repeats
        results.append(compare(rows, cols, args.repeats, ev_repeats, args.evidently_timeout))
    streams = []
    for r in results:
        print(f"[stream {r['cols']} features]", file=sys.stderr, flush=True)
        streams.append(covenant_streaming(r["_profile"], r["_names"], windows, memory_windows))
    for r in results:
        del r["_profile"], r["_names"]

    import datasketches
    import scipy

    meta = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "datasketches": getattr(datasketches, "__version__", "5.2.0"),
        "cpus": os.cpu_count(),
        "threads": args.threads,
        "machine": platform.machine(),
        "processor": _cpu_model(),
        "repeats": args.repeats,
        "window_rows": WINDOW_ROWS,
        "shift_sigma": SHIFT_SIGMA,
        "bench_peak_rss_mb": _peak_rss_mb(),
    }
    document = {"meta": meta, "results": results, "streaming": streams}
    if args.json_out:
        with open(args.json_out, "w") as fh:
            json.dump(document, fh, indent=2)
    if args.json:
        print(json.dumps({"meta": meta, "results": results, "streaming": streams}, indent=2))
    else:
        print(json.dumps(meta))
        _print_table(results, streams)
        for r in results:
            if "scores_side_by_side" in r:
                print(f"\n{r['rows']:,} x {r['cols']}: column  evidently  covenant")
                for n, (e, c) in r["scores_side_by_side"].items():
                    print(f"  {n}  {e:.6f}  {c:.6f}  {'drift' if e >= THRESHOLD else ''}")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    main()
