"""Gradient-boosted trees (LightGBM) on the breast cancer data, data-parallel on Ray
Train when the run is on the Ray executor, resumable bit for bit.

Entrypoint ``boosting.train:train``. Hyperparameters (all optional):

* ``rounds`` (60), ``learning_rate`` (0.1), ``num_leaves`` (15), ``min_data_in_leaf``
  (10);
* ``checkpoint_every`` (10): a checkpoint every that many boosting rounds (and at the
  end);
* ``cpus_per_worker`` (0.5): the CPUs each Ray Train worker reserves;
* ``dataset``: which of the context's datasets to read (default: the only one);
* ``round_sleep_s`` (0): a pause after each round, so tests can stop a run midway.

On the Ray executor (``ctx.executor == "ray"``) the model is fitted by Ray Train's
``LightGBMTrainer`` on ``ctx.workers`` workers, each on its shard of the rows, with
LightGBM's data-parallel tree learner; elsewhere it is fitted in this process. Both
are deterministic (``covenant.training.distributed``): the same data, seed and
hyperparameters on the same executor and number of workers give the same bytes of
``model.txt``, and a run resumed from the checkpoint after round k ends with exactly
the bytes of the uninterrupted one. The two executors do not give the same model (two
workers bin the features and grow the trees from their own shards): results are
reproducible per executor and hardware class, not across them.

The checkpoint is LightGBM's model text at that round; resuming continues boosting
from its trees. Outputs: ``model.txt`` (LightGBM's text format) and ``metrics.json``.
The metrics include ``world_size``, the number of workers that trained the model.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from typing import TYPE_CHECKING

import lightgbm as lgb
import numpy as np

from covenant.training.distributed import (
    deterministic_params,
    train_lightgbm,
    train_lightgbm_local,
)

from .data import load

if TYPE_CHECKING:
    from covenant.training import TrainingContext

HOLD_OUT_EVERY = 5  # every fifth sample is held out for accuracy, the same for every seed


def train(ctx: TrainingContext) -> None:
    """Train on ``ctx``'s dataset; see the module doc for the hyperparameters."""
    hp = ctx.hyperparams
    rounds = int(hp.get("rounds", 60))
    every = int(hp.get("checkpoint_every", 10))
    pause = float(hp.get("round_sleep_s", 0))
    params = deterministic_params(
        {
            "objective": "binary",
            "learning_rate": float(hp.get("learning_rate", 0.1)),
            "num_leaves": int(hp.get("num_leaves", 15)),
            "min_data_in_leaf": int(hp.get("min_data_in_leaf", 10)),
        },
        ctx.seed,
    )
    name = hp.get("dataset") or next(iter(ctx.datasets))
    x, y = load(ctx.datasets[name])
    held_out = np.arange(len(y)) % HOLD_OUT_EVERY == 0
    x_train, y_train, x_test, y_test = x[~held_out], y[~held_out], x[held_out], y[held_out]

    restored = ctx.restore()
    init_model = restored[1].decode("utf-8") if restored is not None else None
    if restored is not None:
        ctx.log(f"boosting: resuming after round {restored[0]}")

    def on_checkpoint(step: int, model: bytes) -> None:
        ctx.checkpoint(model, step=step)

    def on_metrics(step: int, metrics: dict[str, float]) -> None:
        if metrics:
            ctx.report(metrics, step=step)

    common = {
        "params": params,
        "num_boost_round": rounds,
        "checkpoint_every": every,
        "init_model": init_model,
        "on_checkpoint": on_checkpoint,
        "on_metrics": on_metrics,
        "round_sleep_s": pause,
    }
    if ctx.executor == "ray":
        ctx.log(f"boosting: Ray Train, {ctx.workers} workers")
        with tempfile.TemporaryDirectory(prefix="covenant-ray-train-") as storage:
            result = train_lightgbm(
                x_train,
                y_train,
                num_workers=ctx.workers,
                cpus_per_worker=float(hp.get("cpus_per_worker", 0.5)),
                storage_path=storage,
                name=f"covenant-{uuid.uuid4().hex[:12]}",
                **common,  # type: ignore[arg-type]
            )
    else:
        result = train_lightgbm_local(x_train, y_train, **common)  # type: ignore[arg-type]
    ctx.log(f"boosting: {result.rounds} rounds on {result.world_size} worker(s)")

    booster = lgb.Booster(model_str=result.model_text)
    predicted = booster.predict(x_test) > 0.5
    accuracy = float(np.mean(predicted == y_test))
    ctx.report({"accuracy": accuracy, "world_size": float(result.world_size)})
    out = ctx.output_dir
    (out / "model.txt").write_text(result.model_text, encoding="utf-8")
    metrics = {"accuracy": accuracy, "world_size": result.world_size}
    (out / "metrics.json").write_text(json.dumps(metrics, sort_keys=True) + "\n")
