"""The model runner port: a model file and a batch of features in, labels and
probabilities out.

A runner is synchronous and CPU-bound on purpose; the worker calls it in a thread so
the event loop keeps serving. It never loads code from the model file (no pickle):
a file a user registered is data, and a runner that would execute it is not offered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Predictions:
    """What a model said about each row.

    Attributes:
        labels: the predicted label of each row, as a string.
        proba: (rows, classes) probabilities, columns in ``classes`` order.
        classes: the model's classes, as strings.
    """

    labels: list[str]
    proba: NDArray[np.float64]
    classes: list[str]


@runtime_checkable
class ModelRunner(Protocol):
    """Runs one kind of model file.

    Promises: ``predict`` returns one label and one probability row per input row;
    a file it cannot run, or features whose width the model does not take, raise
    ``EvaluationError`` (code ``invalid``) naming the problem, never a library error.
    """

    name: str

    def accepts(self, model: bytes) -> bool:
        """Whether this runner is the one for ``model``'s bytes (cheap, no loading)."""
        ...

    def predict(
        self, *, model: bytes, features: NDArray[np.float32], feature_names: Sequence[str]
    ) -> Predictions:
        """Score every row of ``features`` with ``model``."""
        ...
