"""The ModelRunner contract, stated once and run against every adapter on a real
digits model: ONNX with and without ZipMap, and the in-process callable runner."""

from __future__ import annotations

import abc

import numpy as np
import pytest

from covenant.evaluation.errors import EvaluationError
from covenant.evaluation.runners import CallableRunner, ModelRunner, OnnxRunner
from covenant.evaluation.runners.callable import callable_model_file
from eval_models import as_callable, digits_test_set, fitted, onnx_bytes


class RunnerHarness(abc.ABC):
    """How the suite gets a runner and the digits model as that runner's file."""

    @abc.abstractmethod
    def runner(self) -> ModelRunner: ...

    @abc.abstractmethod
    def model_file(self) -> bytes: ...

    @abc.abstractmethod
    def garbage_file(self) -> bytes:
        """A file this runner accepts but cannot run."""


class OnnxHarness(RunnerHarness):
    def __init__(self, *, zipmap: bool) -> None:
        self.zipmap = zipmap

    def runner(self) -> ModelRunner:
        return OnnxRunner()

    def model_file(self) -> bytes:
        return onnx_bytes(fitted(), zipmap=self.zipmap)

    def garbage_file(self) -> bytes:
        return b"this is not a protobuf \x00\xff"


class CallableHarness(RunnerHarness):
    def runner(self) -> ModelRunner:
        return CallableRunner({"digits": as_callable(fitted())}, widths={"digits": 64})

    def model_file(self) -> bytes:
        return callable_model_file("digits")

    def garbage_file(self) -> bytes:
        return callable_model_file("no-such-model")


HARNESSES = {
    "onnx-zipmap": OnnxHarness(zipmap=True),
    "onnx-tensor": OnnxHarness(zipmap=False),
    "callable": CallableHarness(),
}


@pytest.fixture(params=sorted(HARNESSES))
def harness(request: pytest.FixtureRequest) -> RunnerHarness:
    return HARNESSES[request.param]


def test_predicts_what_the_model_predicts(harness: RunnerHarness) -> None:
    data = digits_test_set()
    runner = harness.runner()
    model = harness.model_file()
    assert runner.accepts(model)
    out = runner.predict(model=model, features=data.features, feature_names=data.feature_names)
    reference = fitted()
    assert out.classes == [str(c) for c in reference.classes_]
    assert len(out.labels) == len(data.labels) == out.proba.shape[0]
    agree = np.mean(np.asarray(out.labels) == reference.predict(data.features).astype(str))
    assert agree > 0.99  # float32 inside ONNX may flip a tie
    np.testing.assert_allclose(out.proba, reference.predict_proba(data.features), atol=1e-4)
    np.testing.assert_allclose(out.proba.sum(axis=1), 1.0, atol=1e-4)


def test_features_of_the_wrong_width_are_refused_by_name(harness: RunnerHarness) -> None:
    data = digits_test_set()
    with pytest.raises(EvaluationError, match="64 features, the test set has 10"):
        harness.runner().predict(
            model=harness.model_file(),
            features=data.features[:, :10],
            feature_names=data.feature_names[:10],
        )


def test_a_file_it_cannot_run_is_refused(harness: RunnerHarness) -> None:
    data = digits_test_set()
    with pytest.raises(EvaluationError):
        harness.runner().predict(
            model=harness.garbage_file(),
            features=data.features,
            feature_names=data.feature_names,
        )
