"""Train a digit classifier by SGD, one checkpoint per epoch, resumable bit for bit.

Entrypoint ``digits.train:train``. Hyperparameters (all optional):

* ``epochs`` (10), ``alpha`` (1e-4, L2 strength), ``learning_rate`` (0.01, constant);
* ``dataset``: which of the context's datasets to read (default: the only one);
* ``epoch_sleep_s`` (0): a pause after each epoch, so tests can stop a run midway.

Why it resumes exactly: every epoch is one ``SGDClassifier.fit`` pass
(``max_iter=1``) starting from the previous epoch's weights, over the training rows
in an order drawn from ``RandomState([seed, epoch])``. So an epoch depends only on
the weights it starts from, the seed and its number, and the checkpoint holds the
weights exactly (JSON of Python float reprs, which round-trip bit for bit; no pickle,
no zip timestamps). A run resumed after epoch k does what the uninterrupted run did
from epoch k + 1 on and ends with the same bytes.

Outputs: ``model.onnx`` (via skl2onnx, with a fixed graph name, since the default is
a random uuid), ``weights.json``, ``metrics.json`` and ``drift-profile.json``, the drift
reference profile of the training images (pixels ``p0``..``p63``, scaled as the model
takes them) and the final model's labels for them (``ctx.record_profile``), which the
model version links to.
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import SGDClassifier

from .data import N_FEATURES, load

if TYPE_CHECKING:
    from covenant.training import TrainingContext

N_CLASSES = 10
HOLD_OUT_EVERY = 5  # every fifth image is held out for accuracy, the same for every seed


def _encode(epoch: int, coef: np.ndarray, intercept: np.ndarray) -> bytes:
    body = {"epoch": epoch, "coef": coef.tolist(), "intercept": intercept.tolist()}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("ascii")


def _decode(state: bytes) -> tuple[int, np.ndarray, np.ndarray]:
    body = json.loads(state)
    coef = np.array(body["coef"], dtype=np.float64)
    intercept = np.array(body["intercept"], dtype=np.float64)
    if coef.shape != (N_CLASSES, N_FEATURES) or intercept.shape != (N_CLASSES,):
        raise ValueError("checkpoint weights have the wrong shape")
    return int(body["epoch"]), coef, intercept


def _estimator(alpha: float, learning_rate: float) -> SGDClassifier:
    return SGDClassifier(
        loss="log_loss",  # every row moves the weights, so any change to the data shows
        alpha=alpha,
        learning_rate="constant",
        eta0=learning_rate,
        max_iter=1,
        tol=None,
        shuffle=False,  # the order is ours, drawn from the seed and the epoch
        random_state=0,
    )


def _predict(x: np.ndarray, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    return np.argmax(x @ coef.T + intercept, axis=1)


def _accuracy(x: np.ndarray, y: np.ndarray, coef: np.ndarray, intercept: np.ndarray) -> float:
    return float(np.mean(_predict(x, coef, intercept) == y))


def _export_onnx(model: SGDClassifier, path: Path) -> None:
    from skl2onnx import convert_sklearn  # slow to import: only once training is done
    from skl2onnx.common.data_types import FloatTensorType

    onx = convert_sklearn(
        model,
        name="digits_sgd",
        initial_types=[("pixels", FloatTensorType([None, N_FEATURES]))],
        options={id(model): {"zipmap": False}},
        target_opset=17,
    )
    path.write_bytes(onx.SerializeToString())


def train(ctx: TrainingContext) -> None:
    """Train on ``ctx``'s dataset; see the module doc for the hyperparameters."""
    hp = ctx.hyperparams
    epochs = int(hp.get("epochs", 10))
    alpha = float(hp.get("alpha", 1e-4))
    learning_rate = float(hp.get("learning_rate", 0.01))
    pause = float(hp.get("epoch_sleep_s", 0))
    name = hp.get("dataset") or next(iter(ctx.datasets))
    x, y = load(ctx.datasets[name])
    held_out = np.arange(len(y)) % HOLD_OUT_EVERY == 0
    x_train, y_train, x_test, y_test = x[~held_out], y[~held_out], x[held_out], y[held_out]

    coef = np.zeros((N_CLASSES, N_FEATURES))
    intercept = np.zeros(N_CLASSES)
    first = 0
    restored = ctx.restore()
    if restored is not None:
        first, coef, intercept = _decode(restored[1])
        ctx.log(f"digits: resuming after epoch {first}")
    ctx.log(f"digits: {len(y_train)} training images, epochs {first + 1}..{epochs}")

    model = _estimator(alpha, learning_rate)
    for epoch in range(first, epochs):
        order = np.random.RandomState([ctx.seed, epoch]).permutation(len(y_train))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # one pass is the point
            model.fit(x_train[order], y_train[order], coef_init=coef, intercept_init=intercept)
        coef, intercept = model.coef_.copy(), model.intercept_.copy()
        ctx.checkpoint(_encode(epoch + 1, coef, intercept), step=epoch + 1)
        ctx.report({"accuracy": _accuracy(x_test, y_test, coef, intercept)}, step=epoch + 1)
        if pause:
            time.sleep(pause)

    # The estimator that goes to ONNX always gets its weights from the last state, so
    # a run resumed at the very end (no epoch left) exports the same bytes.
    model.coef_, model.intercept_ = coef, intercept
    model.classes_ = np.arange(N_CLASSES)
    model.n_features_in_ = N_FEATURES
    accuracy = _accuracy(x_test, y_test, coef, intercept)
    ctx.report({"accuracy": accuracy})
    out = ctx.output_dir
    _export_onnx(model, out / "model.onnx")
    weights = {"coef": coef.tolist(), "intercept": intercept.tolist()}
    (out / "weights.json").write_text(json.dumps(weights, sort_keys=True) + "\n")
    (out / "metrics.json").write_text(json.dumps({"accuracy": accuracy}, sort_keys=True) + "\n")
    ctx.record_profile(
        features=x_train,
        feature_names=[f"p{i}" for i in range(N_FEATURES)],
        predicted=_predict(x_train, coef, intercept).tolist(),
        truth=y_train.tolist(),
    )
