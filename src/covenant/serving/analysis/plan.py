"""Combining per-metric verdicts into one step decision.

Alpha budget: ``alpha`` is the step's false-rollback budget. Bonferroni across metrics
(alpha / len(metrics) each), then each metric's share is split in half between the sequential
test (all looks together, always valid) and the one final Mann-Whitney judgement. Across the
steps of one canary, pass ``step_alpha(n_steps)`` so the whole canary holds
FALSE_ROLLBACK_RATE. At final, an INSUFFICIENT metric gives CONTINUE (extend the step), never
FAIL: too little traffic is not evidence of a regression; the caller caps the extension.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from covenant.serving.analysis.judge import MetricSpec, Outcome, Verdict, judge
from covenant.serving.analysis.sequential import SequentialTest

FALSE_ROLLBACK_RATE = 0.05  # per canary, across all steps, metrics and looks
REQUESTS_TO_CATCH_20PCT = (
    600  # canary requests (baseline the same), lognormal sigma 0.5, looks per 50
)


def step_alpha(n_steps: int) -> float:
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")
    return FALSE_ROLLBACK_RATE / n_steps


class StepDecision(StrEnum):
    CONTINUE = "continue"
    PASS = "pass"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class StepAnalysis:
    decision: StepDecision
    verdicts: tuple[Verdict, ...]
    score: float
    reason: str


def analyse_step(
    metrics: Sequence[MetricSpec],
    baseline: Mapping[str, Sequence[float]],
    canary: Mapping[str, Sequence[float]],
    *,
    alpha: float = 0.05,
    final: bool,
    pass_score: float = 75.0,
) -> StepAnalysis:
    """FAIL if a critical metric fails or the score (percent passing) is below pass_score."""
    if not metrics:
        raise ValueError("analyse_step needs at least one metric")
    per = alpha / len(metrics) / 2
    seq = SequentialTest(alpha=per)
    verdicts: list[Verdict] = []
    for m in metrics:
        if m.name not in baseline or m.name not in canary:
            raise ValueError(f"no samples for metric {m.name!r}")
        v = seq.verdict(m, baseline[m.name], canary[m.name])
        if final and v.outcome is not Outcome.FAIL:
            v = judge(m, baseline[m.name], canary[m.name], alpha=per)
        verdicts.append(v)
    passed = sum(v.outcome is Outcome.PASS for v in verdicts)
    score = 100.0 * passed / len(verdicts)
    failed = [v for v, m in zip(verdicts, metrics, strict=True) if v.outcome is Outcome.FAIL]
    critical = [v for v, m in zip(verdicts, metrics, strict=True)
                if m.critical and v.outcome is Outcome.FAIL]  # fmt: skip
    undecided = any(v.outcome in (Outcome.INSUFFICIENT, Outcome.INCONCLUSIVE) for v in verdicts)
    if critical:
        decision, why = StepDecision.FAIL, f"critical metric {critical[0].metric} failed"
    elif failed and (final or not undecided) and score < pass_score:
        decision, why = StepDecision.FAIL, f"score {score:.0f} < {pass_score:.0f}"
    elif undecided:
        decision, why = StepDecision.CONTINUE, "some metrics undecided: keep collecting"
    else:
        decision, why = StepDecision.PASS, f"score {score:.0f}"
    reason = f"{decision.value}: {why}; " + "; ".join(v.reason for v in verdicts)
    return StepAnalysis(decision, tuple(verdicts), score, reason)
