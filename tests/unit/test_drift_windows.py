"""Samples checked against the profile, and cut into consecutive, bounded windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from covenant.drift.errors import SampleError
from covenant.drift.profile import build_profile
from covenant.drift.windows import ParsedSample, Window, WindowSpec, parse_sample

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
PROFILE = build_profile({"a": [1.0, 2.0, 3.0], "b": [0.0, 1.0, 2.0]}, {"c": ["x", "y", "x"]})


def test_a_good_sample_is_typed_by_the_profile() -> None:
    parsed = parse_sample(PROFILE, {"a": 1, "b": 2.5, "c": 7})
    assert parsed == ParsedSample({"a": 1.0, "b": 2.5}, {"c": "7"})


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"a": 1.0, "c": "x"}, "missing_column"),
        ({"a": 1.0, "b": 1.0, "c": "x", "d": 1.0}, "unknown_column"),
        ({"a": "1.0", "b": 1.0, "c": "x"}, "not_a_number"),
        ({"a": True, "b": 1.0, "c": "x"}, "not_a_number"),
        ({"a": None, "b": 1.0, "c": "x"}, "not_a_number"),
        ({"a": float("nan"), "b": 1.0, "c": "x"}, "not_finite"),
        ({"a": 1.0, "b": float("inf"), "c": "x"}, "not_finite"),
        ({"a": 1.0, "b": 1.0, "c": None}, "not_a_category"),
        ({"a": 1.0, "b": 1.0, "c": [1]}, "not_a_category"),
    ],
)
def test_a_bad_sample_is_refused_with_its_reason(values: dict[str, object], reason: str) -> None:
    with pytest.raises(SampleError) as caught:
        parse_sample(PROFILE, values)
    assert caught.value.reason == reason
    assert not caught.value.retriable


def test_count_windows_are_consecutive_and_hold_exactly_their_rows() -> None:
    window = Window(PROFILE, WindowSpec(rows=4))
    closed = []
    for i in range(10):
        closed += window.add(ParsedSample({"a": float(i), "b": 0.0}, {"c": "x"}), T0)
    assert [w.index for w in closed] == [0, 1]
    assert closed[0].numeric["a"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert closed[1].numeric["a"].tolist() == [4.0, 5.0, 6.0, 7.0]
    assert closed[1].categorical["c"] == ["x"] * 4
    assert window.rows == 2
    assert window.index == 2


def test_a_time_window_closes_on_the_first_late_sample_which_opens_the_next() -> None:
    window = Window(PROFILE, WindowSpec(rows=100, seconds=60))
    stamps = [0, 10, 59, 61, 70, 125]
    closed = []
    for i, second in enumerate(stamps):
        sample = ParsedSample({"a": float(i), "b": 0.0}, {"c": "x"})
        closed += window.add(sample, T0 + timedelta(seconds=second))
    assert [(w.index, w.rows) for w in closed] == [(0, 3), (1, 2)]
    assert closed[0].closed_at == T0 + timedelta(seconds=59)
    assert closed[1].opened_at == T0 + timedelta(seconds=61)
    assert closed[1].numeric["a"].tolist() == [3.0, 4.0]
    assert window.rows == 1


def test_memory_is_preallocated_per_window_not_grown() -> None:
    window = Window(PROFILE, WindowSpec(rows=1000))
    buffer = window.numeric["a"]
    for _ in range(999):
        window.add(ParsedSample({"a": 1.0, "b": 1.0}, {"c": "x"}), T0)
    assert window.numeric["a"] is buffer
    assert buffer.nbytes == 1000 * np.dtype(np.float64).itemsize


@pytest.mark.parametrize(("rows", "seconds"), [(0, None), (10, 0.0), (10, -1.0)])
def test_bad_window_specs_are_refused(rows: int, seconds: float | None) -> None:
    with pytest.raises(ValueError, match="window"):
        WindowSpec(rows=rows, seconds=seconds)


def test_flush_closes_the_last_short_window_once() -> None:
    window = Window(PROFILE, WindowSpec(rows=10))
    assert window.flush() is None
    for _ in range(3):
        window.add(ParsedSample({"a": 1.0, "b": 1.0}, {"c": "x"}), T0)
    tail = window.flush()
    assert tail is not None
    assert (tail.index, tail.rows) == (0, 3)
    assert window.flush() is None
    assert window.index == 1
