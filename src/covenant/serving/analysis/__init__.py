"""Canary analysis: pure statistics, no I/O."""

from covenant.serving.analysis.judge import (
    DEFAULT_METRICS,
    Direction,
    MetricKind,
    MetricSpec,
    Outcome,
    Verdict,
    judge,
)
from covenant.serving.analysis.plan import (
    FALSE_ROLLBACK_RATE,
    REQUESTS_TO_CATCH_20PCT,
    StepAnalysis,
    StepDecision,
    analyse_step,
    step_alpha,
)
from covenant.serving.analysis.sequential import SequentialTest, sequential_verdict

__all__ = [
    "DEFAULT_METRICS",
    "FALSE_ROLLBACK_RATE",
    "REQUESTS_TO_CATCH_20PCT",
    "Direction",
    "MetricKind",
    "MetricSpec",
    "Outcome",
    "SequentialTest",
    "StepAnalysis",
    "StepDecision",
    "Verdict",
    "analyse_step",
    "judge",
    "sequential_verdict",
    "step_alpha",
]
