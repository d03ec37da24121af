"""An evaluation end to end on the embedded log and a folder blob store: a real ONNX
model trained on digits, a registered test set, the evaluation worker on the real
runtime; its figures agree with scikit-learn and fairlearn computed directly, the
report is stored and recorded with the same figures, and a gate it misses is named."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from fairlearn.metrics import demographic_parity_difference
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from covenant.blobs import FolderBlobStore
from covenant.bus import Bus
from covenant.bus.protocol import Outgoing
from covenant.drift.profile import CategoricalProfile, Profile
from covenant.evaluation.gates import load_gates
from covenant.evaluation.runners import CallableRunner, OnnxRunner, Predictions
from covenant.evaluation.runners.callable import callable_model_file
from covenant.evaluation.worker import make_evaluation_worker
from covenant.events.artifacts import ArtifactStored
from covenant.events.deadletter import DeadLettered
from covenant.events.evaluation import (
    EvaluationCompleted,
    EvaluationFailed,
    MetricsConfig,
    SafetyCheckConfig,
)
from covenant.events.refusals import RefusalCode
from covenant.platform import Resources, build_workers
from covenant.testing import builders, collect, embedded_log, publish, running, wait_for
from covenant.topics import EVAL_COMMANDS, EVAL_EVENTS
from eval_models import as_callable, digits_test_set, digits_test_set_bytes, fitted, onnx_bytes

GATES = """
version = "test.1"
[default]
min_accuracy = 0.8
require_safety_checks = true
[families.digits]
min_accuracy = 0.9
min_f1_macro = 0.9
max_ece = 0.2
max_demographic_parity_difference = 0.2
[families.strict]
min_accuracy = 0.999
"""
CHECKS = [
    SafetyCheckConfig(name="probabilities_valid"),
    SafetyCheckConfig(name="max_class_share", threshold=0.5),
]


@dataclass
class World:
    bus: Bus
    blobs: FolderBlobStore
    model_artifact: str


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    gates = tmp_path / "gates.toml"
    gates.write_text(GATES)
    async with embedded_log(tmp_path) as bus, FolderBlobStore(tmp_path / "blobs") as blobs:
        data = await blobs.put(source=io.BytesIO(digits_test_set_bytes()), media_type="text/csv")
        onnx = await blobs.put(
            source=io.BytesIO(onnx_bytes(fitted(), zipmap=True)), media_type="application/onnx"
        )
        await publish(
            bus,
            builders.dataset_registered("digits-test:v1", checksum=data.artifact_id),
            builders.model_registered("digits:1.0.0", artifact_id=onnx.artifact_id),
            builders.model_registered("strict:1.0.0", artifact_id=onnx.artifact_id),
        )
        workers = [
            make_evaluation_worker(blobs=blobs, runners=(OnnxRunner(),), gates=load_gates(gates)),
            *build_workers(["artifacts"], resources=Resources(blobs=blobs)),
        ]
        async with running(bus, workers):
            yield World(bus, blobs, onnx.artifact_id)


def _run(eval_id: str, model_id: str, *, test_sets: list[str] | None = None) -> object:
    config = MetricsConfig(sensitive_attribute="group", safety_checks=CHECKS)
    return builders.run_evaluation(
        eval_id, model_id=model_id, test_sets=test_sets or ["digits-test:v1"], metrics=config
    )


async def test_figures_agree_with_the_libraries_and_the_report_is_stored(world: World) -> None:
    command = _run("eval-ok", "digits:1.0.0")
    await publish(world.bus, command, command)  # a redelivery: still one outcome
    done = await wait_for(world.bus, EvaluationCompleted, lambda e: e.eval_id == "eval-ok")

    data, model = digits_test_set(), fitted()
    truth = np.asarray([int(v) for v in data.labels])
    pred, proba = model.predict(data.features), model.predict_proba(data.features)
    assert done.task.rows == len(truth)
    assert done.task.accuracy == pytest.approx(accuracy_score(truth, pred), abs=1e-3)
    assert done.task.f1_macro == pytest.approx(f1_score(truth, pred, average="macro"), abs=1e-3)
    auc = roc_auc_score(truth, proba, multi_class="ovr")
    assert done.task.roc_auc_ovr == pytest.approx(auc, abs=1e-4)
    (fair,) = done.fairness
    dp = demographic_parity_difference(
        truth == 9, pred == 9, sensitive_features=np.asarray(data.groups)
    )
    assert (fair.attribute, fair.positive_label) == ("group", "9")
    assert fair.demographic_parity_difference == pytest.approx(dp, abs=1e-3)
    assert {g.group for g in fair.groups} == {"even", "odd"}

    assert (done.gate_family, done.gates_version) == ("digits", "test.1")
    assert done.passed is all(g.passed for g in done.gates)
    assert [g.name for g in done.gates] == [
        "min_accuracy",
        "min_f1_macro",
        "max_ece",
        "max_demographic_parity_difference",
        "safety_checks_passed",
    ]
    assert done.passed, done.gates
    assert done.test_set_checksums == {"digits-test:v1": builders.sha(digits_test_set_bytes())}

    stored = await wait_for(
        world.bus, ArtifactStored, lambda e: e.artifact_id == done.report_artifact_id
    )
    assert stored.artifact_id == done.report_artifact_id
    chunks = await world.blobs.open(done.report_artifact_id)
    report = json.loads(b"".join([c async for c in chunks]))
    assert report["task"]["accuracy"] == done.task.accuracy
    assert report["passed"] is True
    assert [g["name"] for g in report["gates"]] == [g.name for g in done.gates]

    # The drift reference: the test set's features and the model's outputs, recorded.
    assert done.profile_artifact_id is not None
    await wait_for(world.bus, ArtifactStored, lambda e: e.artifact_id == done.profile_artifact_id)
    chunks = await world.blobs.open(done.profile_artifact_id)
    profile = Profile.from_bytes(b"".join([c async for c in chunks]))
    assert profile.features == data.feature_names
    assert profile.outputs == ["output:label"]
    assert profile.rows == len(truth)
    hits, trials = profile.rates["accuracy"]
    assert (hits / trials, trials) == (pytest.approx(accuracy_score(truth, pred)), len(truth))
    even = profile.rates["positive:group=even"]
    assert even[1] == sum(g == "even" for g in data.groups)
    assert even[0] == sum(p == 9 for p, g in zip(pred, data.groups, strict=True) if g == "even")
    label = profile.columns["output:label"]
    assert isinstance(label, CategoricalProfile)
    assert label.counts == {str(c): int((pred == c).sum()) for c in set(pred)}
    assert profile.metadata == {
        "modelId": "digits:1.0.0",
        "evalId": "eval-ok",
        "positiveLabel": "9",
    }

    outcomes = await collect(world.bus, EVAL_EVENTS, timeout_s=1)
    ours = [o for o in outcomes if isinstance(o, EvaluationCompleted | EvaluationFailed)]
    assert [type(o) for o in ours if o.eval_id == "eval-ok"] == [EvaluationCompleted]


async def test_a_missed_gate_is_named(world: World) -> None:
    await publish(world.bus, _run("eval-strict", "strict:1.0.0"))
    done = await wait_for(world.bus, EvaluationCompleted, lambda e: e.eval_id == "eval-strict")
    assert done.passed is False
    failing = [g for g in done.gates if not g.passed]
    assert [(g.name, g.threshold) for g in failing] == [("min_accuracy", 0.999)]
    assert failing[0].value == done.task.accuracy


async def test_unknown_things_and_tampered_bytes_fail_with_a_reason(world: World) -> None:
    await publish(
        world.bus,
        _run("eval-nomodel", "nope:1.0.0"),
        _run("eval-noset", "digits:1.0.0", test_sets=["missing:v1"]),
    )
    first = await wait_for(world.bus, EvaluationFailed, lambda e: e.eval_id == "eval-nomodel")
    second = await wait_for(world.bus, EvaluationFailed, lambda e: e.eval_id == "eval-noset")
    assert [r.code for r in first.refusals] == [RefusalCode.NOT_FOUND]
    assert "nope:1.0.0" in first.reasons[0]
    assert [r.field for r in second.refusals] == ["testSetRefs"]

    bad = await world.blobs.put(source=io.BytesIO(b"not onnx at all"), media_type="x")
    await publish(world.bus, builders.model_registered("broken:1.0.0", artifact_id=bad.artifact_id))
    await publish(world.bus, _run("eval-broken", "broken:1.0.0"))
    broken = await wait_for(world.bus, EvaluationFailed, lambda e: e.eval_id == "eval-broken")
    assert "not a valid ONNX model" in broken.reasons[0]

    tampered = await world.blobs.put(source=io.BytesIO(b"label,x\n1,2\n"), media_type="text/csv")
    stat = await world.blobs.stat(tampered.artifact_id)
    assert stat is not None
    _tamper(Path(stat.uri.removeprefix("file://")), b"label,x\n1,3\n")  # one byte
    await publish(
        world.bus,
        builders.dataset_registered("tampered:v1", checksum=tampered.artifact_id),
        _run("eval-tampered", "digits:1.0.0", test_sets=["tampered:v1"]),
    )
    mismatch = await wait_for(world.bus, EvaluationFailed, lambda e: e.eval_id == "eval-tampered")
    assert "refusing to use them" in mismatch.reasons[0]


async def test_garbage_is_dead_lettered_and_the_worker_keeps_going(world: World) -> None:
    await world.bus.publish([Outgoing(EVAL_COMMANDS, b"digits:1.0.0", b"\xc3\x01 garbage")])
    await publish(world.bus, _run("eval-after", "strict:1.0.0"))
    dead = await wait_for(world.bus, DeadLettered, lambda d: d.worker == "evaluation")
    assert dead.worker == "evaluation"
    after = await wait_for(world.bus, EvaluationCompleted, lambda e: e.eval_id == "eval-after")
    assert after.model_id == "strict:1.0.0"


async def test_an_in_process_model_with_nan_outputs_fails_by_name(tmp_path: Path) -> None:
    def nan_model(features: np.ndarray) -> Predictions:
        proba = np.full((len(features), 10), np.nan)
        return Predictions(["0"] * len(features), proba, [str(i) for i in range(10)])

    runner = CallableRunner({"nan": nan_model, "good": as_callable(fitted())})
    async with embedded_log(tmp_path) as bus, FolderBlobStore(tmp_path / "blobs") as blobs:
        data = await blobs.put(source=io.BytesIO(digits_test_set_bytes()), media_type="text/csv")
        nan = await blobs.put(source=io.BytesIO(callable_model_file("nan")), media_type="x")
        good = await blobs.put(source=io.BytesIO(callable_model_file("good")), media_type="x")
        await publish(
            bus,
            builders.dataset_registered("digits-test:v1", checksum=data.artifact_id),
            builders.model_registered("nan:1.0.0", artifact_id=nan.artifact_id),
            builders.model_registered("good:1.0.0", artifact_id=good.artifact_id),
            _run("eval-nan", "nan:1.0.0"),
            _run("eval-good", "good:1.0.0"),
        )
        worker = make_evaluation_worker(blobs=blobs, runners=(runner, OnnxRunner()))
        async with running(bus, [worker]):
            failed = await wait_for(bus, EvaluationFailed, lambda e: e.eval_id == "eval-nan")
            done = await wait_for(bus, EvaluationCompleted, lambda e: e.eval_id == "eval-good")
    assert "NaN" in failed.reasons[0]
    assert done.gate_family == "default"  # no [families.good]: the built-in default
    assert done.task.accuracy == pytest.approx(
        float(
            np.mean(
                fitted().predict(digits_test_set().features).astype(str)
                == np.asarray(digits_test_set().labels)
            )
        )
    )


def _tamper(path: Path, data: bytes) -> None:
    """Change stored bytes behind the store's back."""
    path.chmod(0o644)
    path.write_bytes(data)
