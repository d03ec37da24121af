"""Evaluation runs and gates: a registered model scored on registered test sets.

Pure parts: ``metrics`` (task, calibration, fairness figures), ``safety`` (checks over
the model's outputs), ``gates`` (per-family thresholds from ``gates.toml`` and the
verdict). Ports and adapters: ``runners`` (ONNX, in-process callables, precomputed
predictions). The worker adapts ``eval.run`` on the log to them.
"""

from covenant.evaluation.errors import EvaluationError

__all__ = ["EvaluationError"]
