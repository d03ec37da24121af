"""Data-parallel gradient boosting through Ray Train's own LightGBM trainer.

``train_lightgbm`` runs in the launcher's process (on the Ray executor that is the Ray
job's driver) and fits one LightGBM model on ``num_workers`` Ray Train workers with
LightGBM's data-parallel tree learner (``ray.train.lightgbm.LightGBMTrainer``; Ray
Train sets up LightGBM's socket network between the workers). Every worker trains on
its own shard of the rows, ``rows[rank::num_workers]``; the shards are cut here rather
than by Ray Data because Ray Data's streaming split does not promise which worker gets
which rows, and a model is only reproducible when every worker sees the same rows
every time.

Checkpoints go through Ray Train's own mechanism: every ``checkpoint_every`` rounds rank
0 reports the booster's model text with ``ray.train.report``, Ray Train persists it
under ``storage_path``, and a controller callback hands the bytes to the driver through
a Ray queue; the driver calls ``on_checkpoint`` (``TrainingContext.checkpoint``: the
controller and the workers are other processes and cannot reach the launcher's context).
``init_model`` (a checkpoint's model text) resumes: LightGBM boosts on from its trees.

Reproducibility: with ``deterministic``, one thread per worker, row-wise histograms,
no bagging or feature sampling and the seed fixed, the same data on the same number of
workers gives a bit-identical model text, and resuming from the checkpoint after round
k gives the same text as never stopping (the scores LightGBM rebuilds from the
checkpoint's trees are the same float64 sums, added in the same order, as the scores it
kept while training). The one thing that differed was the parameters section LightGBM
writes at the end of the text: ``[num_iterations: …]`` records the rounds of the last
call, and ``machines``/``local_listen_port`` the sockets of this run's network (new ports
every time); ``finish_model`` stamps those before the final model is written. Models
are reproducible per executor and hardware class, not across them: a single-process
model and a two-worker model bin the features from different samples and grow
different trees.

Ray is imported inside the functions: the module imports without the ``ray`` extra.
"""

from __future__ import annotations

import os
import queue
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "BoostingResult",
    "deterministic_params",
    "finish_model",
    "train_lightgbm",
    "train_lightgbm_local",
]

CHECKPOINT_FILE = "model.txt"

_Array = Any  # numpy arrays; numpy is not a dependency of the core package


def deterministic_params(params: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """``params`` with everything LightGBM needs to give the same trees every time."""
    return {
        **params,
        "seed": seed,
        "deterministic": True,
        "num_threads": 1,
        "force_row_wise": True,
        "bagging_fraction": 1.0,
        "feature_fraction": 1.0,
        "verbosity": -1,
    }


def finish_model(model_text: str, num_boost_round: int) -> str:
    """A finished model's text with the parameters that describe one process's call
    rather than the model made the same every time: ``num_iterations`` becomes the
    total (a resumed call records only the rounds it ran itself), and the socket
    addresses Ray Train picked for LightGBM's network (``machines``,
    ``local_listen_port``, new ports every run) are blanked. The trees are untouched."""
    stamped = {
        "num_iterations": str(num_boost_round),
        "machines": "",
        "local_listen_port": "",
    }

    def stamp(match: re.Match[str]) -> str:
        return f"[{match[1]}: {stamped[match[1]]}]"

    head, sep, tail = model_text.partition("\nparameters:\n")
    if not sep:
        return model_text
    params, end, rest = tail.partition("end of parameters")
    return head + sep + _PARAM.sub(stamp, params) + end + rest


_PARAM = re.compile(r"^\[(num_iterations|machines|local_listen_port): [^\]\n]*\]$", re.M)


@dataclass(frozen=True)
class BoostingResult:
    """What ``train_lightgbm`` returns.

    Attributes:
        model_text: the final model (LightGBM's text format), deterministic.
        world_size: how many Ray Train workers trained it.
        rounds: the boosting rounds of the final model.
    """

    model_text: str
    world_size: int
    rounds: int


def train_lightgbm(
    features: _Array,
    labels: _Array,
    *,
    params: Mapping[str, Any],
    num_boost_round: int,
    num_workers: int,
    cpus_per_worker: float,
    checkpoint_every: int,
    storage_path: str | os.PathLike[str],
    name: str,
    init_model: str | None = None,
    on_checkpoint: Callable[[int, bytes], None] | None = None,
    on_metrics: Callable[[int, dict[str, float]], None] | None = None,
    round_sleep_s: float = 0.0,
) -> BoostingResult:
    """Fit one LightGBM model on ``num_workers`` Ray Train workers (see the module).

    ``params`` should come from ``deterministic_params``. ``on_checkpoint(step, model
    bytes)`` and ``on_metrics(step, metrics)`` are called in this thread, in order, as
    rounds finish; the last checkpoint is the final model.
    """
    if init_model is not None:
        import lightgbm as lgb

        if lgb.Booster(model_str=init_model).current_iteration() >= num_boost_round:
            # Resumed from the last checkpoint: nothing is left to train.
            return BoostingResult(
                finish_model(init_model, num_boost_round), num_workers, num_boost_round
            )
    import ray
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.lightgbm import LightGBMTrainer
    from ray.util.queue import Queue

    channel = Queue(actor_options={"num_cpus": 0})
    trainer = LightGBMTrainer(
        _train_loop,
        train_loop_config={
            "features": ray.put(features),
            "labels": ray.put(labels),
            "params": dict(params),
            "num_boost_round": num_boost_round,
            "checkpoint_every": checkpoint_every,
            "init_model": init_model,
            "round_sleep_s": round_sleep_s,
            "channel": channel,
        },
        scaling_config=ScalingConfig(
            num_workers=num_workers, resources_per_worker={"CPU": cpus_per_worker}
        ),
        run_config=RunConfig(
            name=name,
            storage_path=str(storage_path),
            failure_config=FailureConfig(max_failures=0),
            checkpoint_config=CheckpointConfig(num_to_keep=2),
            callbacks=[_forwarder(channel)],
        ),
    )
    outcome: dict[str, Any] = {}

    def fit() -> None:
        try:
            outcome["result"] = trainer.fit()
        except BaseException as exc:
            outcome["error"] = exc

    fitting = threading.Thread(target=fit, name="ray-train-fit", daemon=True)
    fitting.start()
    world_size = 0
    final: tuple[int, bytes] | None = None

    def deliver(message: tuple[int, dict[str, float], bytes | None, int]) -> None:
        nonlocal world_size, final
        step, metrics, blob, world_size = message
        if on_metrics is not None and metrics:
            on_metrics(step, metrics)
        if blob is not None:
            final = (step, blob)
            if on_checkpoint is not None:
                on_checkpoint(step, blob)

    try:
        while fitting.is_alive():
            try:
                deliver(channel.get(timeout=0.5))
            except queue.Empty:  # ray.util.queue.Empty is one
                continue
        fitting.join()
        while not channel.empty():  # what came after the last poll
            deliver(channel.get())
    finally:
        ray.kill(channel.actor)  # type: ignore[arg-type]
    if "error" in outcome:
        raise outcome["error"]
    if final is None:
        raise RuntimeError("Ray Train finished without reporting a model")
    return BoostingResult(final[1].decode(), world_size, final[0])


def train_lightgbm_local(
    features: _Array,
    labels: _Array,
    *,
    params: Mapping[str, Any],
    num_boost_round: int,
    checkpoint_every: int,
    init_model: str | None = None,
    on_checkpoint: Callable[[int, bytes], None] | None = None,
    on_metrics: Callable[[int, dict[str, float]], None] | None = None,
    round_sleep_s: float = 0.0,
) -> BoostingResult:
    """``train_lightgbm`` in this process, on one worker: the same checkpoints, the
    same resume, without Ray (the local executor's way; not the same model)."""
    import lightgbm as lgb

    train_set = lgb.Dataset(features, labels, free_raw_data=False)
    booster_init = lgb.Booster(model_str=init_model) if init_model else None
    done = booster_init.current_iteration() if booster_init is not None else 0
    final: list[str] = []

    def report(env: Any) -> None:
        step = env.iteration + 1
        if round_sleep_s:
            time.sleep(round_sleep_s)
        if step % checkpoint_every and step != num_boost_round:
            return
        text = env.model.model_to_string()
        if step == num_boost_round:
            text = finish_model(text, num_boost_round)
            final.append(text)
        metrics = _metrics(env)
        if on_metrics is not None and metrics:
            on_metrics(step, metrics)
        if on_checkpoint is not None:
            on_checkpoint(step, text.encode())

    booster = lgb.train(
        dict(params),
        train_set,
        num_boost_round=num_boost_round - done,
        init_model=booster_init,
        keep_training_booster=True,
        callbacks=[report],
    )
    if not final:  # nothing left to train: the checkpoint was the end
        final.append(finish_model(booster.model_to_string(), num_boost_round))
    return BoostingResult(final[-1], 1, num_boost_round)


def _metrics(env: Any) -> dict[str, float]:
    return {f"{e[0]}-{e[1]}": float(e[2]) for e in env.evaluation_result_list or ()}


def _forwarder(channel: Any) -> Any:
    """A Ray Train ``UserCallback`` that runs in the Ray Train controller and hands each
    persisted checkpoint's bytes (and the metrics rank 0 reported with it) to the
    driver's queue. Made here, not at import, so this module imports without Ray."""
    from ray.train import UserCallback

    class ForwardCheckpoints(UserCallback):
        def after_report(
            self, run_context: Any, metrics: list[dict[str, Any]], checkpoint: Any
        ) -> None:
            head = metrics[0] if metrics else {}
            step = int(head.get("step", 0))
            values = {k: float(v) for k, v in head.items() if k not in ("step", "world_size")}
            blob = None
            if checkpoint is not None:
                with checkpoint.as_directory() as folder:
                    blob = Path(folder, CHECKPOINT_FILE).read_bytes()
            world = int(head.get("world_size", len(metrics)))
            channel.put((step, values, blob, world))

    return ForwardCheckpoints()


def _train_loop(config: dict[str, Any]) -> None:
    """One Ray Train worker: its shard, LightGBM's data-parallel learner, a report
    every round (a checkpoint every ``checkpoint_every`` rounds and at the end)."""
    import tempfile

    import lightgbm as lgb
    import ray
    import ray.train
    from ray.train import Checkpoint
    from ray.train.lightgbm import get_network_params

    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    features = ray.get(config["features"]) if _is_ref(config["features"]) else config["features"]
    labels = ray.get(config["labels"]) if _is_ref(config["labels"]) else config["labels"]
    shard = slice(rank, None, world)
    train_set = lgb.Dataset(features[shard], labels[shard], free_raw_data=False)
    params = {
        **config["params"],
        "tree_learner": "data",
        "pre_partition": True,
        **get_network_params(),
    }
    total: int = config["num_boost_round"]
    every: int = config["checkpoint_every"]
    init_model = config["init_model"]
    booster_init = lgb.Booster(model_str=init_model) if init_model else None
    done = booster_init.current_iteration() if booster_init is not None else 0

    pause: float = config["round_sleep_s"]

    def report(env: Any) -> None:
        step = env.iteration + 1
        if pause:
            time.sleep(pause)
        metrics: dict[str, Any] = {"step": step, "world_size": world, **_metrics(env)}
        due = step % every == 0 or step == total
        if due and rank == 0:
            text = env.model.model_to_string()
            text = finish_model(text, total) if step == total else text
            with tempfile.TemporaryDirectory() as folder:
                Path(folder, CHECKPOINT_FILE).write_text(text)
                ray.train.report(metrics, checkpoint=Checkpoint.from_directory(folder))
        elif due:
            ray.train.report(metrics)

    lgb.train(
        params,
        train_set,
        num_boost_round=total - done,
        init_model=booster_init,
        keep_training_booster=True,
        callbacks=[report],
    )


def _is_ref(value: Any) -> bool:
    import ray

    return isinstance(value, ray.ObjectRef)
