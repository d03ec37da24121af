"""Autoscaling decisions by request rate, Kubernetes-HPA style. Pure: the clock is an argument.

Why HPA's rules: our users know them. desired = ceil(rps / target), no change inside a 10 %
tolerance band (avoids flapping on noise), scale-down uses the highest recommendation within
the stabilization window (a dip must last before replicas go), and scheduled windows raise the
floor for batch workloads.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta

TOLERANCE = 0.10
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SCHEDULE = re.compile(r"^\s*(\S+)\s+(\d{2}):(\d{2})-(\d{2}):(\d{2})\s+min=(\S+)\s*$")


@dataclass(frozen=True, slots=True)
class ScheduleWindow:
    days: frozenset[int]
    start: time
    end: time
    min_replicas: int

    def __post_init__(self) -> None:
        if not self.days or any(d not in range(7) for d in self.days):
            raise ValueError(f"ScheduleWindow.days must be within 0..6, got {sorted(self.days)}")
        if self.min_replicas < 0:
            raise ValueError(f"ScheduleWindow.min_replicas must be >= 0, got {self.min_replicas}")

    def contains(self, now: datetime) -> bool:
        t = now.time().replace(tzinfo=None)
        if self.start <= self.end:
            return now.weekday() in self.days and self.start <= t < self.end
        # Wraps midnight: the part after midnight belongs to the previous day's window.
        if t >= self.start:
            return now.weekday() in self.days
        return t < self.end and (now.weekday() - 1) % 7 in self.days


def _day(text: str) -> int:
    if text not in _DAYS:
        raise ValueError(f"schedule: unknown day {text!r} (use mon..sun)")
    return _DAYS.index(text)


def parse_schedule(text: str) -> ScheduleWindow:
    """Parses "mon-fri 01:00-03:00 min=4" (days: a range, a comma list, or "daily")."""
    m = _SCHEDULE.match(text.lower())
    if not m:
        raise ValueError(f"schedule {text!r}: expected 'DAYS HH:MM-HH:MM min=N'")
    days_s, h1, m1, h2, m2, n = m.groups()
    days: set[int] = set()
    for part in ("mon-sun" if days_s == "daily" else days_s).split(","):
        if "-" in part:
            a, b = (_day(x) for x in part.split("-", 1))
            days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(b + 1)])
        else:
            days.add(_day(part))
    try:
        start, end = time(int(h1), int(m1)), time(int(h2), int(m2))
    except ValueError:
        raise ValueError(f"schedule {text!r}: bad time {h1}:{m1}-{h2}:{m2}") from None
    if not n.isdigit():
        raise ValueError(f"schedule {text!r}: min={n!r} is not a whole number")
    return ScheduleWindow(frozenset(days), start, end, int(n))


@dataclass(frozen=True, slots=True)
class ScalePolicy:
    min_replicas: int
    max_replicas: int
    target_rps_per_replica: float
    scale_down_stabilization_s: float = 60.0
    schedules: tuple[ScheduleWindow, ...] = ()

    def __post_init__(self) -> None:
        if self.min_replicas < 0:
            raise ValueError(f"ScalePolicy.min_replicas must be >= 0, got {self.min_replicas}")
        if self.max_replicas < self.min_replicas:
            raise ValueError(
                f"ScalePolicy.max_replicas ({self.max_replicas}) must be >= min_replicas "
                f"({self.min_replicas})"
            )
        if not self.target_rps_per_replica > 0:
            raise ValueError(
                f"ScalePolicy.target_rps_per_replica must be > 0, got {self.target_rps_per_replica}"
            )
        if self.scale_down_stabilization_s < 0:
            raise ValueError("ScalePolicy.scale_down_stabilization_s must be >= 0")


@dataclass(frozen=True, slots=True)
class ScaleDecision:
    replicas: int
    reason: str
    changed: bool
    recommendation: int = 0  # this tick's raw recommendation: keep it for the next window


def decide_scale(
    policy: ScalePolicy,
    *,
    current: int,
    observed_rps: float,
    now: datetime,
    last_scale_up: datetime | None,
    recent_recommendations: Sequence[tuple[datetime, int]] = (),
) -> ScaleDecision:
    if current < 0:
        raise ValueError(f"current must be >= 0, got {current}")
    if not (observed_rps >= 0 and math.isfinite(observed_rps)):
        raise ValueError(f"observed_rps must be a finite number >= 0, got {observed_rps}")
    floor = max([policy.min_replicas] + [w.min_replicas for w in policy.schedules
                                         if w.contains(now)])  # fmt: skip
    floor = min(floor, policy.max_replicas)
    raw = math.ceil(observed_rps / policy.target_rps_per_replica)
    why = f"{observed_rps:.4g} rps / {policy.target_rps_per_replica:.4g} per replica -> {raw}"
    if (
        current > 0
        and abs(observed_rps / (current * policy.target_rps_per_replica) - 1) <= TOLERANCE
    ):
        raw, why = current, f"{why}, within the 10 % tolerance of {current}: hold"
    desired = min(max(raw, floor), policy.max_replicas)
    if desired < current:
        window = timedelta(seconds=policy.scale_down_stabilization_s)
        recent = [r for t, r in recent_recommendations if now - t <= window]
        highest = max([desired, *recent])
        if highest > desired:
            why = f"{why}; highest recommendation in the last {window.seconds} s is {highest}"
            desired = min(highest, current)
    if desired != raw:
        why = f"{why}; clamped to [{floor}, {policy.max_replicas}] -> {desired}"
    return ScaleDecision(desired, f"{current} -> {desired}: {why}", desired != current,
                         min(max(raw, floor), policy.max_replicas))  # fmt: skip
