"""Builders for evaluation's command and events (``covenant.events.evaluation``).

An evaluation is ``eval-1`` of model ``digits:1.0.0`` on dataset ``d1`` (checksum
``sha("d1")``, ``dataset_registered("d1")``'s); its events are what the evaluation
worker writes (producer ``evaluation``, subject the model id). The default
``eval.completed`` passes every gate of the ``default`` section.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, Unpack

from covenant.events import evaluation as ev
from covenant.events.refusals import Refusal, RefusalCode
from covenant.testing._builders._meta import M, Meta, build, refused, sha, strings

EVAL_ID: Final = "eval-1"
EVAL_MODEL: Final = "digits:1.0.0"


def _event(cls: type[M], meta: Meta, model_id: str, **body: Any) -> M:
    return build(cls, meta, subject=model_id, producer="evaluation", model_id=model_id, **body)


def run_evaluation(
    eval_id: str = EVAL_ID,
    *,
    model_id: str = EVAL_MODEL,
    test_sets: Sequence[str] = ("d1",),
    metrics: ev.MetricsConfig | None = None,
    **meta: Unpack[Meta],
) -> ev.RunEvaluation:
    """An ``eval.run`` command with the default metrics and no safety checks."""
    return build(
        ev.RunEvaluation,
        meta,
        subject=model_id,
        producer="gateway",
        eval_id=eval_id,
        model_id=model_id,
        test_set_refs=strings("test_sets", test_sets),
        metrics=metrics or ev.MetricsConfig(),
    )


def evaluation_completed(
    eval_id: str = EVAL_ID,
    *,
    model_id: str = EVAL_MODEL,
    passed: bool = True,
    accuracy: float = 0.95,
    gates: Sequence[ev.GateVerdict] | None = None,
    report_artifact_id: str | None = None,
    test_sets: Sequence[str] = ("d1",),
    **meta: Unpack[Meta],
) -> ev.EvaluationCompleted:
    """An ``eval.completed`` event; by default one ``min_accuracy`` gate at 0.9."""
    verdicts = (
        list(gates)
        if gates is not None
        else [ev.GateVerdict(name="min_accuracy", threshold=0.9, value=accuracy, passed=passed)]
    )
    return _event(
        ev.EvaluationCompleted,
        meta,
        model_id,
        eval_id=eval_id,
        model_family=model_id.rpartition(":")[0] or model_id,
        gate_family="default",
        gates_version="2026.12.1",
        passed=passed,
        gates=verdicts,
        task=ev.TaskMetrics(
            rows=100,
            accuracy=accuracy,
            f1_macro=accuracy,
            roc_auc_ovr=0.99,
            calibration=ev.Calibration(ece=0.02, bins=10, brier=0.05),
        ),
        report_artifact_id=report_artifact_id or sha(f"report {eval_id}"),
        test_set_checksums={d: sha(d) for d in strings("test_sets", test_sets)},
    )


def evaluation_failed(
    eval_id: str = EVAL_ID,
    *,
    model_id: str = EVAL_MODEL,
    reasons: Sequence[str] | None = None,
    refusals: Sequence[Refusal] | None = None,
    code: RefusalCode = RefusalCode.NOT_FOUND,
    **meta: Unpack[Meta],
) -> ev.EvaluationFailed:
    """An ``eval.failed`` event (see ``dataset_rejected`` for how ``reasons``,
    ``refusals`` and ``code`` combine)."""
    texts, why = refused(
        reasons=reasons,
        refusals=refusals,
        code=code,
        default=f"evaluation {eval_id!r} of {model_id!r} failed ({code.value})",
    )
    return _event(ev.EvaluationFailed, meta, model_id, eval_id=eval_id, reasons=texts, refusals=why)
