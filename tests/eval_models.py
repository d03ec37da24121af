"""Real models for evaluation tests: scikit-learn classifiers on the bundled digits,
exported to ONNX with skl2onnx (with and without ZipMap), and the digits test set."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from numpy.typing import NDArray

from covenant.evaluation.runners import Predictions
from covenant.evaluation.testsets import TestSet, read_test_set
from training_repo import digits_data

N_FEATURES = 64

TRAIN = slice(0, 1200)
HELD_OUT = slice(1200, None)


@functools.cache
def digits_test_set_bytes() -> bytes:
    """The held-out digits in the test-set format (a synthetic ``group`` column)."""
    return bytes(digits_data().evaluation_csv(rows=HELD_OUT))


def digits_test_set() -> TestSet:
    return read_test_set(digits_test_set_bytes(), label_column="label", sensitive_attribute="group")


@functools.cache
def fitted(max_iter: int = 200) -> Any:
    """A logistic regression on the first 1,200 digits (``max_iter=1``: a poor one)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    data = digits_data().evaluation_csv(rows=TRAIN)
    train = read_test_set(
        data, label_column="label", sensitive_attribute=None, ignore_columns=["group"]
    )
    model = LogisticRegression(max_iter=max_iter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(train.features, np.asarray([int(v) for v in train.labels]))
    return model


def onnx_bytes(model: Any, *, zipmap: bool) -> bytes:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    onx = convert_sklearn(
        model,
        name="digits_eval",
        initial_types=[("pixels", FloatTensorType([None, N_FEATURES]))],
        options={id(model): {"zipmap": zipmap}},
        target_opset=17,
    )
    return bytes(onx.SerializeToString())


def as_callable(model: Any) -> Any:
    """``model`` as a ``CallableRunner`` model."""

    def predict(features: NDArray[np.float32]) -> Predictions:
        return Predictions(
            labels=[str(v) for v in model.predict(features)],
            proba=np.asarray(model.predict_proba(features), dtype=np.float64),
            classes=[str(c) for c in model.classes_],
        )

    return predict
