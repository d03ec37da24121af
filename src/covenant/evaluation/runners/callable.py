"""The in-process adapter: models that are Python callables registered by name.

For tests and for models served from the same process: the "model file" is the
name, ``covenant-callable:<name>``, and the runner looks the callable up in the
table it was built with. Nothing is loaded from the bytes, so an untrusted file
cannot run code here either.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from covenant.evaluation.errors import EvaluationError
from covenant.evaluation.runners.protocol import Predictions

PREFIX = b"covenant-callable:"

Model = Callable[[NDArray[np.float32]], Predictions]


def callable_model_file(name: str) -> bytes:
    """The bytes to store as the model artifact of the callable ``name``."""
    return PREFIX + name.encode()


class CallableRunner:
    """Runs callables from ``models``: name -> function of the features.

    Attributes:
        width: the feature count each model takes, when known (checked like ONNX's).
    """

    name = "callable"

    def __init__(self, models: Mapping[str, Model], *, widths: Mapping[str, int] | None = None):
        self._models = dict(models)
        self._widths = dict(widths or {})

    def accepts(self, model: bytes) -> bool:
        """A file that names a callable."""
        return model.startswith(PREFIX)

    def predict(
        self, *, model: bytes, features: NDArray[np.float32], feature_names: Sequence[str]
    ) -> Predictions:
        """Call the named model on ``features``."""
        if not self.accepts(model):
            raise EvaluationError("not a callable model file (covenant-callable:<name>)")
        name = model[len(PREFIX) :].decode(errors="replace")
        fn = self._models.get(name)
        if fn is None:
            raise EvaluationError(f"no in-process model named {name!r}")
        width = self._widths.get(name)
        if width is not None and width != features.shape[1]:
            raise EvaluationError(
                f"model {name!r} takes {width} features, the test set has {features.shape[1]}"
            )
        out = fn(features)
        if len(out.labels) != features.shape[0]:
            raise EvaluationError(
                f"model {name!r} returned {len(out.labels)} labels for {features.shape[0]} rows"
            )
        return out
