"""Per-arm samples the router keeps for the canary analysis, bounded.

Each request adds its latency and whether it failed; a labelled request (its OIP
``parameters`` carry ``covenant.label``) also adds whether the answer was right. The
agent drains them every window. The buffers are capped: a router nobody drains
keeps the newest ``CAP`` samples, never more memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["CAP", "ArmSamples", "ShadowSamples", "correct", "outputs_differ"]

CAP = 100_000


def _push(values: list[float], value: float) -> None:
    values.append(value)
    if len(values) > CAP:
        del values[: len(values) - CAP]


@dataclass
class ArmSamples:
    """Latency (ms), error (1/0) and accuracy (1/0, labelled requests) of one arm."""

    latency_ms: list[float] = field(default_factory=list)
    error: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)

    def add(self, latency_ms: float, *, failed: bool, right: Sequence[bool] = ()) -> None:
        _push(self.latency_ms, latency_ms)
        _push(self.error, 1.0 if failed else 0.0)
        for r in right:
            _push(self.accuracy, 1.0 if r else 0.0)


@dataclass
class ShadowSamples:
    """What the shadow did with its copies: latency, errors, answers that differed."""

    latency_ms: list[float] = field(default_factory=list)
    error: list[float] = field(default_factory=list)
    differed: list[float] = field(default_factory=list)

    def add(self, latency_ms: float, *, failed: bool, differed: bool) -> None:
        _push(self.latency_ms, latency_ms)
        _push(self.error, 1.0 if failed else 0.0)
        if not failed:
            _push(self.differed, 1.0 if differed else 0.0)


def _predictions(outputs: list[dict[str, object]], rows: int) -> list[float]:
    """One prediction per row from the first output: its values when there is one
    per row (a label), else the argmax of each row (scores or probabilities)."""
    data = outputs[0].get("data") if outputs else None
    if not isinstance(data, list) or not data:
        return []
    flat: list[float] = []
    stack: list[object] = list(data)
    while stack:
        item = stack.pop(0)
        if isinstance(item, list):
            stack[0:0] = item
        elif isinstance(item, int | float):
            flat.append(float(item))
    if rows <= 0 or len(flat) == rows:
        return flat
    width = len(flat) // rows
    if width * rows != len(flat):
        return []
    return [float(max(range(width), key=lambda j: flat[i * width + j])) for i in range(rows)]


def correct(outputs: list[dict[str, object]], labels: Sequence[float]) -> list[bool]:
    """Whether each row's prediction equals its label."""
    predictions = _predictions(outputs, len(labels))
    if len(predictions) != len(labels):
        return []
    return [p == float(y) for p, y in zip(predictions, labels, strict=True)]


def outputs_differ(a: list[dict[str, object]], b: list[dict[str, object]]) -> bool:
    """Whether two answers differ: by name and shape, or any value by more than 1e-6."""
    if len(a) != len(b):
        return True
    for x, y in zip(a, b, strict=True):
        if x.get("name") != y.get("name") or x.get("shape") != y.get("shape"):
            return True
        dx, dy = x.get("data"), y.get("data")
        if not isinstance(dx, list) or not isinstance(dy, list) or len(dx) != len(dy):
            return True
        for u, v in zip(dx, dy, strict=True):
            if isinstance(u, int | float) and isinstance(v, int | float):
                if abs(float(u) - float(v)) > 1e-6:
                    return True
            elif u != v:
                return True
    return False
