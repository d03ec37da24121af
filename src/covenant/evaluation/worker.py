"""The evaluation worker: ``eval.run`` in, exactly one ``eval.completed`` or
``eval.failed`` out per evaluation id.

It is keyed by model id, so one model's evaluations are decided in order by one
instance. It fetches the model and the test sets from the artifact store (the test
sets through the training workspace's verified fetch, so a tampered byte is refused
the same way a training run refuses it), runs the model, scores and judges it
(``decisions``), stores the JSON report and records it (``artifact.record``).

The model run and the scoring are CPU-bound (onnxruntime, scikit-learn, fairlearn),
so they run in a thread; the event loop keeps serving. A command whose outcome is
already on the log is skipped, so a redelivery yields no second outcome; the report
holds no clock, so a re-run after a crash before commit stores the same bytes.
Beside the report it stores the drift reference profile of the test set and the
model's outputs (``covenant.drift.reference``), recorded as an artifact and named in
``eval.completed``. The profile is the same bytes on a re-run while its sketches are
exact (test sets up to some thousands of rows); past that KLL compacts at random, so a
re-run stores an equally accurate profile under another digest, and the first, never
referenced by a committed event, is an orphan in the store.
Garbage on the input topic is dead-lettered by the runtime before it reaches here.
"""

from __future__ import annotations

import asyncio
import io
import tempfile
from collections.abc import Sequence
from pathlib import Path

from covenant.blobs import BlobNotFoundError, BlobStore, StoredBlob
from covenant.drift.reference import evaluation_profile
from covenant.errors import CovenantError
from covenant.evaluation import decisions
from covenant.evaluation.errors import EvaluationError
from covenant.evaluation.gates import GateBook, load_gates
from covenant.evaluation.runners import pick
from covenant.evaluation.runners.protocol import ModelRunner, Predictions
from covenant.evaluation.state import EvaluationState
from covenant.evaluation.testsets import TestSet, concatenate, read_test_set
from covenant.events.artifacts import RecordArtifact
from covenant.events.base import Message
from covenant.events.evaluation import EvaluationCompleted, EvaluationFailed, RunEvaluation
from covenant.events.refusals import Refusal, RefusalCode, messages
from covenant.runtime.worker import Context, Worker
from covenant.topics import ARTIFACT_COMMANDS, EVAL_COMMANDS, EVAL_EVENTS
from covenant.training.executors.protocol import DatasetInput
from covenant.training.workspace import fetch_verified

REPORT_MEDIA_TYPE = "application/vnd.covenant.evaluation+json"
PROFILE_MEDIA_TYPE = "application/vnd.covenant.drift-profile+json"


def make_evaluation_worker(
    *, blobs: BlobStore, runners: Sequence[ModelRunner], gates: GateBook | None = None
) -> Worker:
    """The ``evaluation`` worker over ``blobs``, trying ``runners`` in order per model
    file, judging by ``gates`` (the built-in ``gates.toml`` unless given)."""
    state = EvaluationState()
    book = gates or load_gates()

    async def handle(message: Message, ctx: Context) -> None:
        assert isinstance(message, RunEvaluation)  # the runtime checks ``accepts``
        if message.eval_id in state.decided:
            return  # redelivered, or a client's retry: its outcome is on the log
        refusals = decisions.command_refusals(message, state)
        if refusals:
            _fail(ctx, message, refusals)
            return
        try:
            await _evaluate(message, ctx, state, blobs, runners, book)
        except EvaluationError as exc:
            _fail(ctx, message, [Refusal(code=exc.code, message=str(exc), field=exc.field)])
        except CovenantError as exc:
            if exc.retriable:
                raise  # the store hiccupped: the runtime retries the batch
            code = (
                RefusalCode.NOT_FOUND
                if isinstance(exc.__cause__, BlobNotFoundError)
                else RefusalCode.INVALID
            )
            _fail(ctx, message, [Refusal(code=code, message=str(exc))])

    return Worker(
        name="evaluation",
        inputs=(EVAL_COMMANDS,),
        outputs=(EVAL_EVENTS, ARTIFACT_COMMANDS),
        accepts=(RunEvaluation,),
        handle=handle,
        description="evaluation runs: score a model on test sets, judge it by its gates",
        state=state,
    )


async def _evaluate(
    command: RunEvaluation,
    ctx: Context,
    state: EvaluationState,
    blobs: BlobStore,
    runners: Sequence[ModelRunner],
    book: GateBook,
) -> None:
    model = state.models[command.model_id]
    checksums = {ref: state.datasets[ref] for ref in command.test_set_refs}
    try:
        chunks = await blobs.open(model.artifact_id)
        model_bytes = b"".join([chunk async for chunk in chunks])
    except BlobNotFoundError as exc:
        raise EvaluationError(
            f"model {command.model_id!r}: its artifact {model.artifact_id} is not stored",
            code=RefusalCode.NOT_FOUND,
        ) from exc
    with tempfile.TemporaryDirectory(prefix="covenant-eval-") as folder:
        files = [
            await fetch_verified(
                blobs, DatasetInput(name=ref, artifact_id=sha, checksum=sha), Path(folder)
            )
            for ref, sha in checksums.items()
        ]
        payloads = [await asyncio.to_thread(path.read_bytes) for path in files]

    def work() -> tuple[decisions.Figures, bytes, bytes]:
        data = _read(command, payloads)
        out = _run(runners, model_bytes, data)
        try:
            result = decisions.figures(command, family=model.family, data=data, out=out, book=book)
        except (ValueError, TypeError, ArithmeticError, IndexError, KeyError) as exc:
            # scikit-learn and fairlearn refuse inputs with these; translated here so
            # the evaluation still gets its one outcome instead of a dead letter.
            raise EvaluationError(f"the outputs could not be scored: {exc}") from exc
        profile = _profile(command, data, out)
        return result, decisions.report(command, result, checksums), profile

    result, document, profile = await asyncio.to_thread(work)
    kept = await _store(blobs, ctx, command, profile, "drift-profile.json", PROFILE_MEDIA_TYPE)
    stored = await _store(blobs, ctx, command, document, "report.json", REPORT_MEDIA_TYPE)
    ctx.emit(
        EvaluationCompleted,
        subject=command.model_id,
        eval_id=command.eval_id,
        model_id=command.model_id,
        model_family=model.family,
        gate_family=result.gate_family,
        gates_version=result.gates_version,
        passed=result.passed,
        gates=result.gates,
        task=result.task,
        fairness=result.fairness,
        safety=result.safety,
        report_artifact_id=stored.artifact_id,
        test_set_checksums=checksums,
        profile_artifact_id=kept.artifact_id,
    )


async def _store(
    blobs: BlobStore,
    ctx: Context,
    command: RunEvaluation,
    data: bytes,
    name: str,
    media_type: str,
) -> StoredBlob:
    """Put one of the evaluation's documents and record it as an artifact of the run."""
    stored = await blobs.put(source=io.BytesIO(data), media_type=media_type)
    ctx.emit(
        RecordArtifact,
        subject=stored.artifact_id,
        name=f"evaluation/{command.eval_id}/{name}",
        media_type=media_type,
        claimed_sha256=stored.sha256,
        size_bytes=stored.size,
        blob_uri=stored.uri,
        run_config={"eval": command.eval_id, "model": command.model_id},
    )
    return stored


def _profile(command: RunEvaluation, data: TestSet, out: Predictions) -> bytes:
    config = command.metrics
    positive = config.positive_label if config.positive_label is not None else out.classes[-1]
    return evaluation_profile(
        features=data.features,
        feature_names=data.feature_names,
        predicted=out.labels,
        truth=data.labels,
        positive=positive,
        attribute=config.sensitive_attribute,
        groups=data.groups,
        metadata={
            "modelId": command.model_id,
            "evalId": command.eval_id,
            "positiveLabel": positive,
        },
    ).to_bytes()


def _read(command: RunEvaluation, payloads: list[bytes]) -> TestSet:
    config = command.metrics
    return concatenate(
        [
            read_test_set(
                data,
                label_column=config.label_column,
                sensitive_attribute=config.sensitive_attribute,
                ignore_columns=config.ignore_columns,
            )
            for data in payloads
        ]
    )


def _run(runners: Sequence[ModelRunner], model: bytes, data: TestSet) -> Predictions:
    runner = pick(runners, model)
    return runner.predict(model=model, features=data.features, feature_names=data.feature_names)


def _fail(ctx: Context, command: RunEvaluation, refusals: list[Refusal]) -> None:
    ctx.emit(
        EvaluationFailed,
        subject=command.model_id,
        eval_id=command.eval_id,
        model_id=command.model_id,
        reasons=messages(refusals),
        refusals=refusals,
    )


__all__ = ["PROFILE_MEDIA_TYPE", "REPORT_MEDIA_TYPE", "make_evaluation_worker"]
