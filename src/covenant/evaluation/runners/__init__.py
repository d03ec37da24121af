"""Model runners: the port (``protocol``) and its adapters side by side (``onnx``,
``callable``). ``pick`` chooses the first runner that accepts a file."""

from __future__ import annotations

from collections.abc import Sequence

from covenant.evaluation.errors import EvaluationError
from covenant.evaluation.runners.callable import CallableRunner, callable_model_file
from covenant.evaluation.runners.onnx import OnnxRunner
from covenant.evaluation.runners.protocol import ModelRunner, Predictions


def pick(runners: Sequence[ModelRunner], model: bytes) -> ModelRunner:
    """The first of ``runners`` that accepts ``model``.

    Raises:
        EvaluationError: none does.
    """
    for runner in runners:
        if runner.accepts(model):
            return runner
    raise EvaluationError(f"no model runner accepts this file (tried {[r.name for r in runners]})")


__all__ = [
    "CallableRunner",
    "ModelRunner",
    "OnnxRunner",
    "Predictions",
    "callable_model_file",
    "pick",
]
