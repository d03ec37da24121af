"""The platform's drift report, drawn from ``GET /drift/{modelId}`` alone.

Every ``drift.scored`` event carries each column's bins with the reference's and the
window's share in each, and every statistic with its threshold, so the page needs no
data beyond the events: the report an auditor draws from the log is the one the
operator saw. HTML is self-contained (inline SVG, no script, nothing fetched); PNG is
drawn by matplotlib (the ``report`` extra) for tickets and chat that take no HTML.
"""

from __future__ import annotations

import html
import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from covenant.cli._drift_report import CUR, REF, STYLE, bars, history_svg
from covenant.errors import ConfigError

_PNG_COLUMNS = 12  # the drifted columns first; a PNG of a hundred panels helps nobody


def _ordered(latest: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted(latest["columns"], key=lambda c: (not c["drifted"], c["role"] != "output"))


def _points(doc: dict[str, Any], deploy_id: str, column: str) -> list[tuple[float, float, bool]]:
    points = []
    for entry in doc["history"]:
        found = entry["columns"].get(column)
        if entry["deployId"] == deploy_id and found is not None:
            points.append((found["value"], found["threshold"], found["drifted"]))
    return points


def _labels(column: dict[str, Any]) -> list[str]:
    bins: list[str] = column["bins"]
    # Quantile bins of a numeric column are labelled by the two ends of the axis.
    return bins if column["kind"] == "categorical" else [bins[0], bins[-1]]


def _table(column: dict[str, Any]) -> str:
    rows = ["<table><tr><th>statistic</th><th>value</th><th>threshold</th><th>p</th></tr>"]
    for s in column["statistics"]:
        mark = ' class="over"' if s["drifted"] else ""
        decides = " (decides)" if s["primary"] else ""
        p = "" if s["pvalue"] is None else f"{s['pvalue']:.3g}"
        threshold = "not calibrated" if s["threshold"] > 1e300 else f"{s['threshold']:.4g}"
        rows.append(
            f"<tr{mark}><td>{html.escape(s['name'])}{decides}</td><td>{s['value']:.4g}</td>"
            f"<td>{threshold}</td><td>{p}</td></tr>"
        )
    return "".join([*rows, "</table>"])


def render_html(doc: dict[str, Any]) -> str:
    """The page: per deployment, its latest window column by column (drifted first),
    each with its score history against the threshold, then alerts and remedies."""
    model = html.escape(doc["modelId"])
    parts = [
        f"<h1>Drift of {model}</h1>",
        f'<p class="key"><span style="background:{REF}"></span>reference'
        f'<span style="background:{CUR}"></span>latest window'
        " &middot; numeric columns in the reference's quantile bins</p>",
    ]
    for latest in doc["latest"]:
        drifted = [c["column"] for c in latest["columns"] if c["drifted"]]
        verdict = f"drift in {', '.join(drifted)}" if drifted else "no drift"
        parts.append(
            f"<h2>{html.escape(latest['deployId'])} on {html.escape(latest['route'])}: window "
            f"{latest['window']}, {latest['rows']} rows: {html.escape(verdict)}</h2>"
            f"<p>False-alarm rate {latest['alpha']:g} per window over all columns; thresholds "
            f"calibrated by resampling reference {html.escape(latest['referenceProfileId'])}."
            "</p>"
        )
        for column in _ordered(latest):
            name = column["column"]
            picture = bars(
                np.asarray(column["referenceShare"], dtype=np.float64),
                np.asarray(column["currentShare"], dtype=np.float64),
                _labels(column),
                name,
            )
            points = _points(doc, latest["deployId"], name)
            if len(points) > 1:
                picture += "<h2>deciding statistic per window</h2>" + history_svg(name, points)
            css = "col drift" if column["drifted"] else "col"
            state = "DRIFT" if column["drifted"] else "ok"
            parts.append(
                f'<section class="{css}"><div><h2>{html.escape(name)}: {state}</h2>{picture}'
                f"</div><div>{_table(column)}</div></section>"
            )
        for outcome in latest["outcomes"]:
            state = "DRIFT" if outcome["drifted"] else "ok"
            parts.append(
                f"<p>{html.escape(outcome['name'])}: {outcome['current']:.4g} against "
                f"{outcome['reference']:.4g} in the reference ({outcome['trials']} labelled): "
                f"{state}</p>"
            )
    for alert in doc["alerts"]:
        parts.append(
            f'<p class="over">alert {html.escape(alert["alertId"])} ({alert["severity"]}): '
            f"{html.escape(alert['reason'])} &rarr; {alert['remediation']}</p>"
        )
    body = "".join(parts)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Drift of {model}</title><style>{STYLE}</style></head><body>{body}</body></html>\n"
    )


def render_png(doc: dict[str, Any]) -> bytes:
    """The first deployment's latest window: a row per column (drifted first, at most
    ``_PNG_COLUMNS``), its bins on the left and its score history on the right.

    Raises:
        ConfigError: matplotlib is not installed (the ``report`` extra).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot as plt
    except ImportError as exc:
        raise ConfigError(
            "a PNG report needs matplotlib: pip install 'covenant[report]' "
            "(or write report.html, which needs nothing)"
        ) from exc
    latest = doc["latest"][0]
    columns = _ordered(latest)[:_PNG_COLUMNS]
    figure, axes = plt.subplots(len(columns), 2, figsize=(11, 2.2 * len(columns)), squeeze=False)
    figure.suptitle(
        f"Drift of {doc['modelId']} on {latest['route']}: window {latest['window']} "
        f"(false-alarm rate {latest['alpha']:g})"
    )
    for row, column in zip(axes, columns, strict=True):
        _png_bins(row[0], column)
        _png_history(row[1], _points(doc, latest["deployId"], column["column"]), column)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, metadata={"Software": "covenant"})
    plt.close(figure)
    return buffer.getvalue()


def _png_bins(axis: Any, column: dict[str, Any]) -> None:
    positions = np.arange(len(column["bins"]))
    axis.bar(positions - 0.2, column["referenceShare"], 0.4, color=REF, label="reference")
    axis.bar(positions + 0.2, column["currentShare"], 0.4, color=CUR, label="latest")
    state = "DRIFT" if column["drifted"] else "ok"
    axis.set_title(f"{column['column']}: {state}", color="#d62728" if column["drifted"] else "k")
    labels: Sequence[str] = column["bins"] if column["kind"] == "categorical" else []
    axis.set_xticks(positions[: len(labels)], labels, fontsize=7)
    axis.legend(fontsize=7)


def _png_history(
    axis: Any, points: list[tuple[float, float, bool]], column: dict[str, Any]
) -> None:
    primary = next(s for s in column["statistics"] if s["primary"])
    windows = np.arange(len(points))
    axis.plot(windows, [v for v, _, _ in points], color=CUR, marker=".", label=primary["name"])
    axis.plot(
        windows,
        [t if t < 1e300 else np.nan for _, t, _ in points],
        color="#999",
        linestyle="--",
        label="threshold",
    )
    hits = [(i, v) for i, (v, _, d) in enumerate(points) if d]
    if hits:
        axis.scatter(*zip(*hits, strict=True), color="#d62728", zorder=3)
    axis.set_xlabel("window (last shown)", fontsize=7)
    axis.legend(fontsize=7)
