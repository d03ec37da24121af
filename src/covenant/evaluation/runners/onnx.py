"""The ONNX adapter: onnxruntime on a model file, as skl2onnx writes them.

skl2onnx classifiers have two outputs: the label tensor, then the probabilities,
either a tensor (``zipmap=False``) or a list of ``{class: probability}`` maps (the
default ZipMap). With ZipMap the classes are the maps' keys; without it they are read
from the graph's classifier node (``classlabels_int64s`` / ``classlabels_strings``),
which is where skl2onnx writes them, so the probability columns are never guessed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from covenant.evaluation.errors import EvaluationError
from covenant.evaluation.runners.protocol import Predictions

_CLASS_ATTRIBUTES = ("classlabels_int64s", "classlabels_strings", "classlabels_ints")


class OnnxRunner:
    """Runs ONNX classifiers on CPU with onnxruntime."""

    name = "onnx"

    def accepts(self, model: bytes) -> bool:
        """Every file that is not another runner's is tried as ONNX (it has no magic)."""
        return True

    def predict(
        self, *, model: bytes, features: NDArray[np.float32], feature_names: Sequence[str]
    ) -> Predictions:
        """Score ``features``; see the module doc for the outputs understood."""
        session = _session(model)
        inputs = session.get_inputs()
        if len(inputs) != 1:
            names = [i.name for i in inputs]
            raise EvaluationError(f"the ONNX model takes {len(inputs)} inputs {names}; expected 1")
        width = inputs[0].shape[-1] if inputs[0].shape else None
        if isinstance(width, int) and width != features.shape[1]:
            raise EvaluationError(
                f"the ONNX model takes {width} features, the test set has {features.shape[1]}"
            )
        outputs = session.get_outputs()
        if len(outputs) < 2:
            raise EvaluationError("the ONNX model has no probability output: not a classifier")
        try:
            label, proba = session.run(
                [outputs[0].name, outputs[1].name],
                {inputs[0].name: features.astype(np.float32)},
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise EvaluationError(f"the ONNX model failed to run: {exc}") from exc
        labels = [str(v) for v in np.asarray(label).ravel()]
        if isinstance(proba, list):
            classes = [str(k) for k in proba[0]] if proba else []
            keys = list(proba[0]) if proba else []
            matrix = np.asarray([[row[k] for k in keys] for row in proba], dtype=np.float64)
        else:
            matrix = np.asarray(proba, dtype=np.float64)
            classes = _classes(model) or [str(i) for i in range(matrix.shape[1])]
        return Predictions(labels=labels, proba=matrix.reshape(len(labels), -1), classes=classes)


def _session(model: bytes) -> Any:
    try:
        import onnxruntime as ort
    except ImportError as exc:  # pragma: no cover - the eval extra has it
        raise EvaluationError("ONNX models need onnxruntime: pip install 'covenant[eval]'") from exc
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # InvalidProtobuf, InvalidGraph, ...: all mean a bad file
        raise EvaluationError(f"the model file is not a valid ONNX model: {exc}") from exc


def _classes(model: bytes) -> list[str] | None:
    try:
        import onnx
    except ImportError:  # pragma: no cover - the eval extra has it
        return None
    graph = onnx.load_from_string(model).graph
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.name in _CLASS_ATTRIBUTES:
                values = onnx.helper.get_attribute_value(attribute)
                return [v.decode() if isinstance(v, bytes) else str(v) for v in values]
    return None
