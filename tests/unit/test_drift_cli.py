"""``covenant drift profile`` and ``check``: the verdict as the exit status, the report."""

from __future__ import annotations

import csv
import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from covenant.cli import app

runner = CliRunner()


def _said(output: str) -> str:
    """The output with rich's line wrapping undone."""
    return " ".join(output.split())


def _write(path: Path, rows: int, seed: int, shift: float = 0.0) -> Path:
    rng = np.random.default_rng(seed)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["age", "income", "region", "output:score", "output:label"])
        for _ in range(rows):
            writer.writerow(
                [
                    f"{rng.normal(40 + 9 * shift, 9):.3f}",
                    f"{rng.lognormal(10, 1):.1f}",
                    rng.choice(["eu", "us", "apac"]),
                    f"{rng.random():.4f}",
                    rng.choice(["0", "1"]),  # numbers, but categories
                ]
            )
    return path


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.svgs = 0
        self.sections: list[str] = []
        self.fetches: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in {"meta", "rect", "br"}:
            self.stack.append(tag)
        self.svgs += tag == "svg"
        if tag == "section":
            self.sections.append(dict(attrs).get("class") or "")
        self.fetches += [v or "" for k, v in attrs if k in {"src", "href"}]

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        pass

    def handle_endtag(self, tag: str) -> None:
        assert self.stack[-1:] == [tag], f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()


def test_profile_then_check_gives_the_verdict_and_a_self_contained_report(
    tmp_path: Path,
) -> None:
    reference = _write(tmp_path / "reference.csv", 20_000, 1)
    profile = tmp_path / "profile.json"
    made = runner.invoke(
        app,
        ["drift", "profile", str(reference), "-o", str(profile), "-c", "output:label", "--json"],
    )
    assert made.exit_code == 0, made.output
    summary = json.loads(made.output)
    assert summary["numeric"] == ["age", "income", "output:score"]
    assert summary["categorical"] == ["output:label", "region"]

    same = _write(tmp_path / "same.csv", 2000, 4)
    quiet = runner.invoke(app, ["drift", "check", str(profile), str(same), "--resamples", "800"])
    assert quiet.exit_code == 0, quiet.output
    assert "no drift" in quiet.output

    moved = _write(tmp_path / "moved.csv", 2000, 3, shift=0.4)
    report = tmp_path / "report.html"
    args = ["drift", "check", str(profile), str(moved), "-o", str(report), "--json"]
    loud = runner.invoke(app, [*args, "--resamples", "800"])
    assert loud.exit_code == 1, loud.output
    document = json.loads(loud.output)
    assert document["drift"] is True
    assert document["driftedColumns"] == ["age"]
    assert document["level"] == 0.05 / 5
    page = report.read_text()
    tags = _Tags()
    tags.feed(page)
    assert tags.stack == []
    assert tags.svgs == 5
    assert tags.sections[0] == "col drift", "drifted columns come first"
    assert tags.fetches == [], "the report fetches nothing"
    assert "age: DRIFT" in page


def test_unreadable_input_says_what_to_do(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    data = _write(tmp_path / "data.csv", 10, 1)
    result = runner.invoke(app, ["drift", "check", str(bad), str(data)])
    assert result.exit_code == 2
    assert "covenant drift profile" in _said(result.output)

    profile = tmp_path / "p.json"
    runner.invoke(app, ["drift", "profile", str(data), "-o", str(profile)])
    short = tmp_path / "short.csv"
    short.write_text("age,region\n1.0,eu\n")
    result = runner.invoke(app, ["drift", "check", str(profile), str(short)])
    assert result.exit_code == 2
    assert "lacks the profiled column(s) ['income', 'output:label', 'output:score']" in _said(
        result.output
    )

    ragged = tmp_path / "ragged.csv"
    ragged.write_text("age,income,region,output:score,output:label\n1,2,eu\n")
    result = runner.invoke(app, ["drift", "check", str(profile), str(ragged)])
    assert result.exit_code == 2
    assert "ragged.csv:2 has 3 cells" in _said(result.output)

    empty = tmp_path / "empty.csv"
    empty.write_text("")
    for command in ("check", "stream"):
        result = runner.invoke(app, ["drift", command, str(profile), str(empty)])
        assert result.exit_code == 2
        assert "empty.csv is empty; give a CSV with a header row" in _said(result.output)

    text = tmp_path / "text.csv"
    text.write_text("age,income,region,output:score,output:label\nold,2,eu,0.5,1\n")
    result = runner.invoke(app, ["drift", "check", str(profile), str(text)])
    assert result.exit_code == 2
    assert "['age'] hold cells that are not numbers" in _said(result.output)


def test_stream_scores_window_by_window_and_counts_bad_rows(tmp_path: Path) -> None:
    reference = _write(tmp_path / "reference.csv", 20_000, 1)
    profile = tmp_path / "profile.json"
    runner.invoke(
        app, ["drift", "profile", str(reference), "-o", str(profile), "-c", "output:label"]
    )
    calm = _write(tmp_path / "calm.csv", 3000, 2)
    moved = _write(tmp_path / "moved.csv", 1500, 3, shift=0.5)
    stream = tmp_path / "stream.csv"
    lines = calm.read_text().splitlines() + moved.read_text().splitlines()[1:]
    lines[10] = "old,1.0,eu,0.5,1"  # a string for a number
    lines[20] = "nan,1.0,eu,0.5,1"  # NaN
    lines[30] = "1.0,1.0,eu,0.5"  # a cell short
    stream.write_text("\n".join(lines) + "\n")
    report = tmp_path / "stream.html"
    args = [
        "drift",
        "stream",
        str(profile),
        str(stream),
        "--window",
        "1000",
        "--json",
        "--alpha",
        "0.01",
    ]
    result = runner.invoke(app, [*args, "--resamples", "2000", "-o", str(report)])
    assert result.exit_code == 1, result.output
    document = json.loads(result.output)
    assert document["rejected"] == {"missing_column": 1, "not_a_number": 1, "not_finite": 1}
    rows = [w["columns"][0]["rows"] for w in document["windows"]]
    assert rows == [1000, 1000, 1000, 1000, 497]
    assert document["driftedWindows"] == [3, 4]
    assert all(w["driftedColumns"] == ["age"] for w in document["windows"][3:])
    tags = _Tags()
    tags.feed(report.read_text())
    assert tags.svgs == 10, "per column: the last window's distributions and the history"


def test_stream_refuses_bad_settings_by_name(tmp_path: Path) -> None:
    data = _write(tmp_path / "data.csv", 50, 1)
    profile = tmp_path / "p.json"
    runner.invoke(app, ["drift", "profile", str(data), "-o", str(profile)])
    result = runner.invoke(app, ["drift", "stream", str(profile), str(data), "--window", "0"])
    assert result.exit_code == 2
    assert "--window: a window holds at least one row" in _said(result.output)
    result = runner.invoke(app, ["drift", "stream", str(profile), str(data), "--alpha", "2"])
    assert result.exit_code == 2
    assert "--alpha is a probability" in _said(result.output)
