"""``covenant drift``: reference profiles, and a window of data checked against one.

Offline and local, no platform needed: ``profile`` keeps what a data set looked like
(what evaluations store beside each model version), ``check`` scores a CSV of current
data against it as one window, with thresholds calibrated to a stated false-alarm rate,
and ``stream`` scores a CSV window by window as the drift worker scores samples. Both
can write the HTML report. The exit status is the verdict (0 no
drift, 1 drift, 2 the input could not be read), so a pipeline can gate on it.
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.progress import Progress, TextColumn
from rich.table import Table

from covenant.cli._drift_report import render
from covenant.cli._support import JsonOption as Json
from covenant.cli._support import err, fail, out
from covenant.drift.calibration import DEFAULT_ALPHA, DEFAULT_RESAMPLES, Calibration, calibrate
from covenant.drift.errors import ProfileError, SampleError
from covenant.drift.profile import DEFAULT_K, CategoricalProfile, Profile, build_profile
from covenant.drift.scoring import WindowScore, score_window
from covenant.drift.windows import ClosedWindow, Window, WindowSpec, parse_sample

drift_app = typer.Typer(
    help="Drift: profile a reference data set once, then check current data against it "
    "(KS, Wasserstein, PSI, Jensen-Shannon, chi-squared) at a stated false-alarm rate.",
    no_args_is_help=True,
)

ProfilePath = Annotated[Path, typer.Argument(metavar="PROFILE", help="a drift profile")]
Resamples = Annotated[int, typer.Option(help="resamples per column for the thresholds")]
Report = Annotated[Path | None, typer.Option("--report", "-o", help="write the HTML report here")]
Categorical = Annotated[
    list[str] | None,
    typer.Option("--categorical", "-c", help="treat this column as categorical (repeatable)"),
]


def _lines(path: Path) -> Iterator[list[str]]:
    """A CSV's header, then its rows; an unreadable or empty file is an exit-2 error."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if not header:
                raise fail(f"{path} is empty; give a CSV with a header row", 2)
            yield header
            yield from reader
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise fail(f"cannot read {path}: {exc}", 2) from exc


def read_csv(
    path: Path, categorical: set[str]
) -> tuple[dict[str, np.ndarray], dict[str, list[str]]]:
    """Columns of a CSV with a header; a column is numeric when every cell parses as one.

    Empty cells are missing values (NaN); in a categorical column they are kept as "".
    """
    lines = _lines(path)
    header = next(lines)
    cells: list[list[str]] = [[] for _ in header]
    for line, row in enumerate(lines, start=2):
        if len(row) != len(header):
            raise fail(f"{path}:{line} has {len(row)} cells, the header {len(header)}", 2)
        for column, cell in zip(cells, row, strict=True):
            column.append(cell)
    numeric: dict[str, np.ndarray] = {}
    categories: dict[str, list[str]] = {}
    for name, column in zip(header, cells, strict=True):
        if name in categorical:
            categories[name] = column
            continue
        try:
            numeric[name] = np.array([float(c) if c.strip() else math.nan for c in column])
        except ValueError:
            categories[name] = column
    return numeric, categories


@drift_app.command("profile")
def profile_command(
    data: Annotated[Path, typer.Argument(help="reference CSV (header row; outputs as output:*)")],
    output: Annotated[Path, typer.Option("--output", "-o", help="where to write the profile")],
    categorical: Categorical = None,
    k: Annotated[int, typer.Option(help="KLL sketch size (rank error ~2.7/k)")] = DEFAULT_K,
    json_out: Json = False,
) -> None:
    """Profile a reference data set, once, and keep the profile.

    A KLL sketch and exact moments per numeric column, frequencies per categorical one:
    small whatever the data's size.
    """
    numeric, categories = read_csv(data, set(categorical or []))
    profile = build_profile(numeric, categories, k=k, metadata={"source": data.name})
    output.write_bytes(profile.to_bytes())
    summary = {
        "profile": str(output),
        "digest": profile.digest(),
        "rows": profile.rows,
        "numeric": sorted(numeric),
        "categorical": sorted(categories),
        "bytes": output.stat().st_size,
    }
    if json_out:
        out.print_json(json.dumps(summary))
        return
    out.print(
        f"profiled {profile.rows} rows, {len(numeric)} numeric and {len(categories)} "
        f"categorical columns -> {output} ({summary['bytes']} bytes, {profile.digest()[:19]}…)"
    )


def _document(score: WindowScore) -> dict[str, Any]:
    def number(value: float) -> float | str:
        return value if math.isfinite(value) else str(value)

    return {
        "drift": score.alarm,
        "alpha": score.alpha,
        "level": score.level,
        "driftedColumns": score.drifted_columns,
        "columns": [
            {
                "column": c.column,
                "kind": c.kind,
                "rows": c.rows,
                "drifted": c.drifted,
                "primary": c.primary.name,
                "statistics": [
                    {
                        "name": s.name,
                        "value": number(s.value),
                        "threshold": number(s.threshold),
                        "pvalue": s.pvalue,
                    }
                    for s in c.statistics
                ],
            }
            for c in score.columns
        ],
    }


def _load(path: Path) -> Profile:
    try:
        return Profile.from_bytes(path.read_bytes())
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc}", 2) from exc
    except ProfileError as exc:
        raise fail(f"{path}: {exc}; make one with `covenant drift profile`", 2) from exc


@drift_app.command("check")
def check_command(
    profile_path: ProfilePath,
    data: Annotated[Path, typer.Argument(help="current data, a CSV with the profile's columns")],
    alpha: Annotated[
        float, typer.Option(help="false-alarm rate for the whole check (all columns)")
    ] = DEFAULT_ALPHA,
    resamples: Resamples = DEFAULT_RESAMPLES,
    report: Report = None,
    json_out: Json = False,
) -> None:
    """Score current data against a profile; exit 1 when any column drifted."""
    profile = _load(profile_path)
    wanted = {n for n, c in profile.columns.items() if isinstance(c, CategoricalProfile)}
    numeric, categories = read_csv(data, wanted)
    missing = sorted(set(profile.columns) - set(numeric) - set(categories))
    if missing:
        raise fail(f"{data} lacks the profiled column(s) {missing}", 2)
    wrong = sorted((set(categories) - wanted) & set(profile.columns))
    if wrong:
        raise fail(f"{data}: numeric column(s) {wrong} hold cells that are not numbers", 2)
    rows = max([v.size for v in numeric.values()] + [len(v) for v in categories.values()] + [0])
    if rows == 0:
        raise fail(f"{data} has no rows", 2)
    try:
        calibration = calibrate(profile, rows, alpha=alpha, resamples=resamples)
    except ValueError as exc:
        raise fail(str(exc), 2) from exc
    score = score_window(profile, calibration, numeric, categories)
    if report is not None:
        report.write_text(
            render(
                profile,
                score,
                numeric,
                categories,
                title=f"{data.name} vs {profile_path.name}",
                resamples=resamples,
            ),
            encoding="utf-8",
        )
    if json_out:
        out.print_json(json.dumps(_document(score)))
    else:
        table = Table(title=f"{data.name}: {'DRIFT' if score.alarm else 'no drift'}")
        for heading in ("column", "test", "value", "threshold", "p", "drift"):
            table.add_column(heading, justify="left" if heading in ("column", "test") else "right")
        for c in score.columns:
            s = c.primary
            table.add_row(
                c.column,
                s.name,
                f"{s.value:.4g}",
                f"{s.threshold:.4g}",
                f"{s.pvalue:.3g}",
                "DRIFT" if c.drifted else "",
            )
        out.print(table)
        out.print(
            f"false-alarm rate {alpha:g} for the check; each column at {score.level:.3g}"
            + (f"; report: {report}" if report else "")
        )
    if score.alarm:
        raise typer.Exit(1)


def _rows(path: Path, categorical: set[str]) -> Iterator[dict[str, object]]:
    """A CSV's rows as the drift worker sees samples: cells of ``categorical`` columns as
    text, others as numbers where they parse as one (and as text where not, for
    ``parse_sample`` to refuse by name)."""
    lines = _lines(path)
    header = next(lines)
    for row in lines:
        values: dict[str, object] = {}
        for name, cell in zip(header, row, strict=False):
            if name in categorical:
                values[name] = cell
                continue
            try:
                values[name] = float(cell) if cell.strip() else math.nan
            except ValueError:
                values[name] = cell
        yield values


@drift_app.command("stream")
def stream_command(
    profile_path: ProfilePath,
    data: Annotated[Path, typer.Argument(help="current data, a CSV, read row by row")],
    window: Annotated[int, typer.Option(help="rows per window")] = 5000,
    alpha: Annotated[float, typer.Option(help="false-alarm rate per window")] = DEFAULT_ALPHA,
    resamples: Resamples = DEFAULT_RESAMPLES,
    report: Report = None,
    json_out: Json = False,
) -> None:
    """Score a CSV window by window; exit 1 when any window drifted.

    As the drift worker scores serving samples: rows that cannot be scored are counted
    by reason, and memory stays one window whatever the file's size.
    """
    profile = _load(profile_path)
    if not 0 < alpha < 1:
        raise fail(f"--alpha is a probability in (0, 1), not {alpha}", 2)
    try:
        windows = Window(profile, WindowSpec(rows=window))
    except ValueError as exc:
        raise fail(f"--window: {exc}", 2) from exc
    scores: list[WindowScore] = []
    rejected: Counter[str] = Counter()
    calibrations: dict[int, Calibration] = {}
    last: ClosedWindow | None = None
    at = datetime.now(UTC)

    def score(closed: ClosedWindow) -> None:
        nonlocal last
        if closed.rows not in calibrations:
            calibrations[closed.rows] = calibrate(
                profile, closed.rows, alpha=alpha, resamples=resamples
            )
        scores.append(
            score_window(profile, calibrations[closed.rows], closed.numeric, closed.categorical)
        )
        last = closed

    with Progress(
        TextColumn("[progress.description]{task.description}"),
        TextColumn("{task.completed} rows"),
        console=err,
        transient=True,
        disable=json_out,
    ) as progress:
        task = progress.add_task("scoring windows", total=None)
        wanted = {n for n, c in profile.columns.items() if isinstance(c, CategoricalProfile)}
        for values in _rows(data, wanted):
            progress.advance(task)
            try:
                sample = parse_sample(profile, values)
            except SampleError as exc:
                rejected[exc.reason] += 1
                continue
            for closed in windows.add(sample, at):
                score(closed)
        tail = windows.flush()  # the stream's last, shorter window is scored too
        if tail is not None:
            score(tail)
    if not scores:
        raise fail(f"{data}: no row could be scored ({dict(rejected)})", 2)
    if report is not None and last is not None:
        report.write_text(
            render(
                profile,
                scores[-1],
                last.numeric,
                last.categorical,
                title=f"{data.name} vs {profile_path.name}: {len(scores)} windows, "
                f"{sum(w.alarm for w in scores)} drifted; the last",
                resamples=resamples,
                history=scores,
            ),
            encoding="utf-8",
        )
    drifted = [i for i, s in enumerate(scores) if s.alarm]
    if json_out:
        document = {
            "windows": [_document(s) for s in scores],
            "driftedWindows": drifted,
            "rejected": dict(sorted(rejected.items())),
        }
        out.print_json(json.dumps(document))
    else:
        for index, s in enumerate(scores):
            rows = s.columns[0].rows if s.columns else 0
            state = f"DRIFT in {', '.join(s.drifted_columns)}" if s.alarm else "no drift"
            out.print(f"window {index} ({rows} rows): {state}")
        if rejected:
            reasons = ", ".join(f"{n} {r}" for r, n in sorted(rejected.items()))
            out.print(f"rows not scored: {reasons}")
    if drifted:
        raise typer.Exit(1)
