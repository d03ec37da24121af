"""Serving samples checked against the profile and gathered into windows, without I/O.

The drift worker reads samples off the log and scores windows of them. Two things are
decided here so that replaying the log decides them the same way:

* whether a sample can be scored at all. A sample with a missing or unknown feature, a
  NaN, or a string where the profile has a number is refused with a reason (the worker
  dead-letters it and counts it per reason); it never reaches the statistics.
* which window a sample falls in. A window closes when it holds ``rows`` samples, or,
  with ``seconds`` set, at the first sample stamped ``seconds`` or more after the
  window's first one (event time, the sample's own stamp, never the worker's clock). The
  window that closes on time holds the samples before that one, which opens the next.
  Windows are numbered from 0 per deployment, so "no window scored twice, none skipped"
  is a statement about consecutive numbers.

Memory is bounded: a window keeps one preallocated float64 column per numeric feature
(``rows`` values) and a list per categorical one, and nothing of closed windows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from covenant.drift.errors import SampleError
from covenant.drift.profile import CategoricalProfile, Profile
from covenant.drift.reference import OUTPUT_LABEL


@dataclass(frozen=True)
class ParsedSample:
    numeric: dict[str, float]
    categorical: dict[str, str]


def parse_sample(profile: Profile, values: Mapping[str, object]) -> ParsedSample:
    """The sample's columns as the profile types them, or a ``SampleError`` naming why not."""
    expected = profile.columns
    missing = [name for name in expected if name not in values]
    if missing:
        raise SampleError(
            f"sample lacks {len(missing)} profiled column(s): {missing[:5]}",
            reason="missing_column",
        )
    unknown = [name for name in values if name not in expected]
    if unknown:
        raise SampleError(
            f"sample has {len(unknown)} column(s) the profile does not: {unknown[:5]}",
            reason="unknown_column",
        )
    numeric: dict[str, float] = {}
    categorical: dict[str, str] = {}
    for name, column in expected.items():
        value = values[name]
        if isinstance(column, CategoricalProfile):
            if value is None or isinstance(value, float | dict | list):
                raise SampleError(
                    f"column {name!r} is categorical; got {value!r}", reason="not_a_category"
                )
            categorical[name] = str(value)
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SampleError(
                f"column {name!r} is numeric; got {type(value).__name__} {value!r:.40}",
                reason="not_a_number",
            )
        number = float(value)
        if not math.isfinite(number):
            raise SampleError(f"column {name!r} is {number}", reason="not_finite")
        numeric[name] = number
    return ParsedSample(numeric, categorical)


def parse_served(
    profile: Profile,
    features: Sequence[float],
    categories: Mapping[str, str],
    prediction: str | None,
) -> ParsedSample:
    """A served row (numeric inputs in the model's order, categorical ones by name, the
    predicted label) as the profile types it, or a ``SampleError`` naming why not."""
    numeric = [f for f in profile.features if f not in categories]
    if len(features) != len(numeric):
        raise SampleError(
            f"sample has {len(features)} numeric features; the reference profile has "
            f"{len(numeric)}",
            reason="wrong_feature_count",
        )
    values: dict[str, object] = dict(zip(numeric, features, strict=True))
    values.update(categories)
    if OUTPUT_LABEL in profile.columns:
        if prediction is None:
            raise SampleError("sample has no prediction", reason="missing_prediction")
        values[OUTPUT_LABEL] = prediction
    return parse_sample(profile, values)


@dataclass(frozen=True)
class WindowSpec:
    """How a deployment's samples are cut: every ``rows``, or also every ``seconds``."""

    rows: int = 5000
    seconds: float | None = None

    def __post_init__(self) -> None:
        if self.rows < 1:
            raise ValueError(f"a window holds at least one row, not {self.rows}")
        if self.seconds is not None and self.seconds <= 0:
            raise ValueError(f"a time window lasts a positive time, not {self.seconds}")


@dataclass
class ClosedWindow:
    """A full (or timed-out) window, ready to score."""

    index: int
    opened_at: datetime
    closed_at: datetime
    rows: int
    numeric: dict[str, np.ndarray]
    categorical: dict[str, list[str]]


@dataclass
class Window:
    """The open window of one deployment."""

    profile: Profile
    spec: WindowSpec
    index: int = 0
    opened_at: datetime | None = None
    last_at: datetime | None = None
    rows: int = 0
    numeric: dict[str, np.ndarray] = field(default_factory=dict)
    categorical: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.rows = 0
        self.opened_at = None
        self.numeric = {
            name: np.empty(self.spec.rows)
            for name, column in self.profile.columns.items()
            if not isinstance(column, CategoricalProfile)
        }
        self.categorical = {
            name: []
            for name, column in self.profile.columns.items()
            if isinstance(column, CategoricalProfile)
        }

    def _close(self, closed_at: datetime) -> ClosedWindow:
        assert self.opened_at is not None
        closed = ClosedWindow(
            index=self.index,
            opened_at=self.opened_at,
            closed_at=closed_at,
            rows=self.rows,
            numeric={name: values[: self.rows].copy() for name, values in self.numeric.items()},
            categorical=self.categorical,
        )
        self.index += 1
        self._reset()
        return closed

    def add(self, sample: ParsedSample, at: datetime) -> list[ClosedWindow]:
        """Add one parsed sample stamped ``at``; returns the windows it closed (0, 1 or 2)."""
        closed: list[ClosedWindow] = []
        seconds = self.spec.seconds
        if (
            seconds is not None
            and self.opened_at is not None
            and (at - self.opened_at).total_seconds() >= seconds
        ):
            closed.append(self._close(self.last_at or at))
        if self.opened_at is None:
            self.opened_at = at
        for name, value in sample.numeric.items():
            self.numeric[name][self.rows] = value
        for name, category in sample.categorical.items():
            self.categorical[name].append(category)
        self.rows += 1
        self.last_at = at
        if self.rows >= self.spec.rows:
            closed.append(self._close(at))
        return closed

    def flush(self) -> ClosedWindow | None:
        """Close the open window as it stands (the stream ended); None when it is empty."""
        if self.rows == 0 or self.last_at is None:
            return None
        return self._close(self.last_at)
