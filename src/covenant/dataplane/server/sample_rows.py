"""What one answered request contributes to drift samples, row by row (pure).

The rules ``sampling`` documents: which rows are kept, each row's features (the
first input, flattened, as floats), its predicted label (the router's rule in
``dataplane.router.samples``: the value when the output has one per row, else the
index of the row's largest value) and its attributes (``covenant.attributes``,
as text; a list with one entry per row gives each row its own).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "ATTRIBUTES_PARAMETER",
    "attributes_of",
    "pick_rows",
    "row_attributes",
    "row_features",
    "row_predictions",
]

ATTRIBUTES_PARAMETER: Final = "covenant.attributes"


def pick_rows(rows: int, rate: float, draw: Callable[[], float]) -> list[int]:
    """The rows kept: each with probability ``rate`` (all of them at 1)."""
    if rate >= 1.0:
        return list(range(rows))
    return [i for i in range(rows) if draw() < rate]


def row_features(array: NDArray[Any], rows: int) -> NDArray[np.float64] | None:
    """Each of an input's ``rows`` rows flattened, as float64; None if not numeric."""
    if array.dtype.kind not in "biuf":
        return None
    return array.reshape(rows, -1).astype(np.float64)


def _label(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)  # a numpy scalar's str is what a profile's str(prediction) is


def row_predictions(output: Any, rows: int, picked: Sequence[int]) -> list[str | None]:
    """Each picked row's predicted label: the output's value when it has one per
    row, else the argmax of the row's values; None where neither applies."""
    if not isinstance(output, np.ndarray) or rows <= 0 or output.size == 0:
        return [None] * len(picked)
    flat = output.reshape(-1)
    if flat.size == rows:
        return [_label(flat[i]) for i in picked]
    if flat.size % rows or output.dtype.kind not in "biuf":
        return [None] * len(picked)
    best = np.argmax(flat.reshape(rows, -1)[list(picked)], axis=1)
    return [str(int(j)) for j in best]


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return None


def attributes_of(body: Mapping[str, Any]) -> Any:
    """The request's ``parameters["covenant.attributes"]`` as given (None if absent)."""
    parameters = body.get("parameters")
    return parameters.get(ATTRIBUTES_PARAMETER) if isinstance(parameters, dict) else None


def row_attributes(given: Any, rows: int, picked: Sequence[int]) -> list[dict[str, str]]:
    """Each picked row's attributes from a ``covenant.attributes`` object: scalar
    values for every row, a list of one value per row for each row; others skipped."""
    if not isinstance(given, Mapping) or not given:
        return [{} for _ in picked]
    shared: dict[str, str] = {}
    per_row: dict[str, list[Any]] = {}
    for key, value in given.items():
        if isinstance(value, list):
            if len(value) == rows:
                per_row[str(key)] = value
        elif (text := _text(value)) is not None:
            shared[str(key)] = text
    out = []
    for i in picked:
        attributes = dict(shared)
        for key, values in per_row.items():
            if (text := _text(values[i])) is not None:
                attributes[key] = text
        out.append(attributes)
    return out
