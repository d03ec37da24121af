"""Scaling decisions: HPA arithmetic, tolerance, stabilization, schedules, validation."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from covenant.serving.scaling import ScalePolicy, decide_scale, parse_schedule

NOW = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)  # a Wednesday, 02:00
P = ScalePolicy(min_replicas=1, max_replicas=10, target_rps_per_replica=100.0)


def test_scale_up_is_ceil_of_rps_over_target() -> None:
    d = decide_scale(P, current=2, observed_rps=450, now=NOW, last_scale_up=None)
    assert d.replicas == 5
    assert d.changed


def test_tolerance_band_holds() -> None:
    d = decide_scale(P, current=4, observed_rps=430, now=NOW, last_scale_up=None)
    assert d.replicas == 4
    assert not d.changed


def test_scale_down_waits_for_stabilization_window() -> None:
    recent = [(NOW - timedelta(seconds=30), 6)]
    d = decide_scale(P, current=6, observed_rps=100, now=NOW, last_scale_up=None,
                     recent_recommendations=recent)  # fmt: skip
    assert d.replicas == 6
    old = [(NOW - timedelta(seconds=300), 6)]
    d = decide_scale(P, current=6, observed_rps=100, now=NOW, last_scale_up=None,
                     recent_recommendations=old)  # fmt: skip
    assert d.replicas == 1


def test_schedule_raises_floor_inside_window_only() -> None:
    w = parse_schedule("mon-fri 01:00-03:00 min=4")
    assert w.days == frozenset(range(5))
    assert w.start == time(1, 0)
    pol = ScalePolicy(1, 10, 100.0, schedules=(w,))
    assert decide_scale(pol, current=1, observed_rps=0, now=NOW, last_scale_up=None).replicas == 4
    later = NOW + timedelta(hours=3)
    assert decide_scale(pol, current=1, observed_rps=0, now=later, last_scale_up=None).replicas == 1


@pytest.mark.parametrize(
    ("text", "part"),
    [("funday 01:00-02:00 min=1", "funday"), ("mon 25:00-26:00 min=1", "bad time"),
     ("mon 01:00-02:00 min=x", "min="), ("nonsense", "expected")],
)  # fmt: skip
def test_parse_schedule_names_the_bad_part(text: str, part: str) -> None:
    with pytest.raises(ValueError, match=part):
        parse_schedule(text)


def test_policy_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match="max_replicas"):
        ScalePolicy(5, 2, 1.0)
    with pytest.raises(ValueError, match="target_rps_per_replica"):
        ScalePolicy(1, 2, 0.0)


@given(st.integers(0, 20), st.floats(0, 1e5), st.integers(0, 5), st.integers(5, 30))
def test_replicas_always_within_bounds(current: int, rps: float, lo: int, hi: int) -> None:
    pol = ScalePolicy(lo, hi, 50.0)
    d = decide_scale(pol, current=current, observed_rps=rps, now=NOW, last_scale_up=None)
    assert lo <= d.replicas <= hi
