"""Evaluation runs and gates: a registered model scored on registered test sets.

Pure parts: ``metrics`` (task, calibration, fairness figures), ``safety`` (checks over
the model's outputs), ``gates`` (per-family thresholds from ``policy/gates.toml`` and
the verdict), ``decisions`` (what a command is refused for, what a scored batch
concludes), ``testsets`` (the CSV test-set format). Ports and adapters: ``runners``
(ONNX, in-process callables). ``worker`` adapts ``eval.run`` on the log to them.
"""

from covenant.evaluation.errors import EvaluationError
from covenant.evaluation.gates import GateBook, load_gates
from covenant.evaluation.runners import CallableRunner, ModelRunner, OnnxRunner, Predictions
from covenant.evaluation.testsets import TestSet, read_test_set
from covenant.evaluation.worker import make_evaluation_worker

__all__ = [
    "CallableRunner",
    "EvaluationError",
    "GateBook",
    "ModelRunner",
    "OnnxRunner",
    "Predictions",
    "TestSet",
    "load_gates",
    "make_evaluation_worker",
    "read_test_set",
]
