"""The drift report: one self-contained HTML page, reference against current, per column.

No script, no external asset, nothing fetched: the page opens offline in any browser and
can be attached to a ticket. Each column gets its distributions overlaid as inline SVG
(the reference's from its profile, the current window's from its rows, over the same
bins) and every statistic with its calibrated threshold, so a reader sees both what
moved and how far past the line it went.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence

import numpy as np

from covenant.drift.profile import CategoricalProfile, NumericProfile, Profile
from covenant.drift.scoring import ColumnScore, WindowScore

_WIDTH, _HEIGHT, _BINS = 420, 140, 30
REF, CUR = "#4c78a8", "#f58518"
STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:72rem}
h1{font-size:1.4rem} h2{font-size:1.1rem;margin:0 0 .4rem}
.col{border:1px solid #ddd;border-radius:6px;padding:1rem;margin:1rem 0;
display:flex;gap:1.5rem;flex-wrap:wrap}
.drift{border-color:#d62728;background:#fff6f6}
table{border-collapse:collapse;font-size:.9rem} td,th{padding:.2rem .6rem;text-align:right}
th:first-child,td:first-child{text-align:left} .over{color:#d62728;font-weight:600}
.key span{display:inline-block;width:.8rem;height:.8rem;margin:0 .3rem 0 1rem}
"""


def bars(reference: np.ndarray, current: np.ndarray, labels: Sequence[str], title: str) -> str:
    peak = max(float(reference.max(initial=0)), float(current.max(initial=0)), 1e-12)
    step = _WIDTH / max(len(reference), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{_HEIGHT + 20}" '
        f'role="img" aria-label="{html.escape(title)}">'
    ]
    for i, (r, c) in enumerate(zip(reference, current, strict=True)):
        x = i * step
        for value, colour, offset in ((r, REF, 0.0), (c, CUR, step / 2)):
            height = _HEIGHT * float(value) / peak
            parts.append(
                f'<rect x="{x + offset:.2f}" y="{_HEIGHT - height:.2f}" '
                f'width="{max(step / 2 - 0.5, 0.5):.2f}" height="{height:.2f}" '
                f'fill="{colour}" opacity="0.85"/>'
            )
    if len(labels) == len(reference):  # one label per bar pair: categories
        for i, label in enumerate(labels):
            parts.append(
                f'<text x="{(i + 0.5) * step:.2f}" y="{_HEIGHT + 15}" font-size="11" '
                f'text-anchor="middle">{html.escape(label[:12])}</text>'
            )
    else:  # the two ends of a numeric axis
        for index, anchor, x in ((0, "start", 0), (len(labels) - 1, "end", _WIDTH)):
            parts.append(
                f'<text x="{x}" y="{_HEIGHT + 15}" font-size="11" text-anchor="{anchor}">'
                f"{html.escape(labels[index])}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)


def _numeric_picture(name: str, column: NumericProfile, values: np.ndarray) -> str:
    finite = values[np.isfinite(values)]
    # The axis spans the middle 99 % of both, so one far tail does not squash the rest;
    # values beyond it are counted in the end bins.
    ends = [column.sketch.get_quantile(q) for q in (0.005, 0.995)] if column.moments.count else []
    if finite.size:
        ends += list(np.quantile(finite, [0.005, 0.995]))
    low, high = (min(ends), max(ends)) if ends else (0.0, 1.0)
    if low == high:
        low, high = low - 0.5, low + 0.5
    edges = np.linspace(low, high, _BINS + 1)
    support, weights = column.support()
    reference = np.histogram(np.clip(support, low, high), bins=edges, weights=weights)[0]
    current = np.histogram(np.clip(finite, low, high), bins=edges)[0].astype(np.float64)
    reference = reference / max(reference.sum(), 1e-12)
    current = current / max(current.sum(), 1.0)
    return bars(reference, current, [f"{low:.4g}", f"{high:.4g}"], name)


def _categorical_picture(name: str, column: CategoricalProfile, values: Sequence[str]) -> str:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    keys = sorted(set(column.counts) | set(counts), key=lambda k: -column.counts.get(k, 0))[:_BINS]
    reference = np.array([column.counts.get(k, 0) for k in keys], dtype=np.float64)
    current = np.array([counts.get(k, 0) for k in keys], dtype=np.float64)
    reference = reference / max(reference.sum(), 1.0)
    current = current / max(current.sum(), 1.0)
    return bars(reference, current, keys, name)


def _p(pvalue: float, resamples: int) -> str:
    """A Monte Carlo p-value at its floor is a bound, not a value."""
    floor = 1 / (resamples + 1)
    return f"&le; {floor:.2g}" if pvalue <= floor * (1 + 1e-9) else f"{pvalue:.3g}"


def _table(score: ColumnScore, resamples: int) -> str:
    rows = ["<table><tr><th>statistic</th><th>value</th><th>threshold</th><th>p</th></tr>"]
    for statistic in score.statistics:
        mark = ' class="over"' if statistic.exceeded else ""
        primary = " (decides)" if statistic.name == score.primary.name else ""
        rows.append(
            f"<tr{mark}><td>{statistic.name}{primary}</td><td>{statistic.value:.4g}</td>"
            f"<td>{statistic.threshold:.4g}</td><td>{_p(statistic.pvalue, resamples)}</td></tr>"
        )
    rows.append("</table>")
    return "".join(rows)


def _history(name: str, history: Sequence[WindowScore]) -> str:
    """The column's deciding statistic per window against its threshold (dashed)."""
    points = [next(c for c in w.columns if c.column == name) for w in history]
    return history_svg(name, [(c.primary.value, c.primary.threshold, c.drifted) for c in points])


def history_svg(name: str, points: Sequence[tuple[float, float, bool]]) -> str:
    """(value, threshold, drifted) per window as a line, the threshold dashed, and a red
    dot on each drifted window; an uncalibrated (infinite) threshold draws at 0."""
    values = [v for v, _, _ in points]
    limits = [t if math.isfinite(t) and t < 1e300 else 0.0 for _, t, _ in points]
    peak = max([*values, *limits, 1e-12])
    step = (_WIDTH - 8) / max(len(points) - 1, 1)

    def y(v: float) -> float:
        return 4 + (_HEIGHT - 8) * (1 - min(v, peak) / peak)

    line = " ".join(f"{4 + i * step:.1f},{y(v):.1f}" for i, v in enumerate(values))
    limit = " ".join(f"{4 + i * step:.1f},{y(v):.1f}" for i, v in enumerate(limits))
    dots = "".join(
        f'<circle cx="{4 + i * step:.1f}" cy="{y(v):.1f}" r="3" fill="#d62728"/>'
        for i, (v, _, drifted) in enumerate(points)
        if drifted
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{_HEIGHT + 20}" '
        f'role="img" aria-label="{html.escape(name)} per window">'
        f'<polyline points="{limit}" fill="none" stroke="#999" stroke-dasharray="4 3"/>'
        f'<polyline points="{line}" fill="none" stroke="{CUR}" stroke-width="2"/>{dots}'
        f'<text x="0" y="{_HEIGHT + 15}" font-size="11">window 0</text>'
        f'<text x="{_WIDTH}" y="{_HEIGHT + 15}" font-size="11" text-anchor="end">'
        f"window {len(points) - 1}</text></svg>"
    )


def render(
    profile: Profile,
    score: WindowScore,
    numeric: Mapping[str, np.ndarray],
    categorical: Mapping[str, Sequence[str]],
    *,
    title: str,
    resamples: int,
    history: Sequence[WindowScore] = (),
) -> str:
    """The whole page; drifted columns first, then the rest in profile order.

    ``score`` and the data are the window shown in full (the last one); with more than
    one window in ``history``, each column also gets its statistic per window against
    its threshold.
    """
    verdict = (
        f"drift in {len(score.drifted_columns)} of {len(score.columns)} columns"
        if score.alarm
        else f"no drift in {len(score.columns)} columns"
    )
    head = (
        f"<h1>{html.escape(title)}: {verdict}</h1><p>False-alarm rate {score.alpha:g} per "
        f"window, each column tested at {score.level:.3g} (Bonferroni); thresholds calibrated "
        f"by resampling the reference. Profile {html.escape(profile.digest())}.</p>"
        f'<p class="key"><span style="background:{REF}"></span>reference'
        f'<span style="background:{CUR}"></span>current</p>'
    )
    blocks = []
    for column_score in sorted(score.columns, key=lambda c: not c.drifted):
        name = column_score.column
        column = profile.columns[name]
        if isinstance(column, NumericProfile):
            picture = _numeric_picture(name, column, np.asarray(numeric[name], dtype=float))
        else:
            picture = _categorical_picture(name, column, categorical[name])
        if len(history) > 1:
            picture += f"<h2>{html.escape(column_score.primary.name)} per window</h2>"
            picture += _history(name, history)
        css = "col drift" if column_score.drifted else "col"
        state = "DRIFT" if column_score.drifted else "ok"
        blocks.append(
            f'<section class="{css}"><div><h2>{html.escape(name)}: {state}</h2>{picture}</div>'
            f"<div>{_table(column_score, resamples)}<p>{column_score.rows} rows</p></div></section>"
        )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        f"{head}{''.join(blocks)}</body></html>\n"
    )
