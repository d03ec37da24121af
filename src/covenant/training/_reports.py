"""Reading what a launcher reported, without trusting it: the run record, and the
outputs and metrics of its ``completed`` line (an entrypoint can print such a line
itself, so every field is checked before the runner acts on it)."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from covenant.events.runs import ComputeConfig, DatasetChecksum, RunEnvironment, RunRecord

log = logging.getLogger("covenant.training.runner")


def completed_shape(data: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, float]] | str:
    """The outputs and metrics of a ``completed`` line, or why it cannot be trusted
    (an entrypoint can print such a line itself)."""
    outputs, metrics = data.get("outputs", {}), data.get("metrics", {})
    if not isinstance(outputs, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in outputs.items()
    ):
        return "the completed line's outputs are not a map of paths to artifact ids"
    if not isinstance(metrics, Mapping) or not all(
        isinstance(k, str) and isinstance(v, int | float) and math.isfinite(v)
        for k, v in metrics.items()
    ):
        return "the completed line's metrics are not a map of names to finite numbers"
    return dict(outputs), {k: float(v) for k, v in metrics.items()}


def literal(value: Any) -> str:
    """A hyperparameter as the canonical JSON literal the log records."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def run_record_of(data: Mapping[str, Any]) -> RunRecord | None:
    """The run record a launcher reported (``covenant.training.record``), or None
    when it sent none or a bad one (the training worker then fails the job rather
    than trust a partial record)."""
    raw = data.get("record")
    if not isinstance(raw, Mapping):
        return None
    try:
        code, env, compute = raw["code"], raw["environment"], raw["compute"]
        python = env["python"]
        return RunRecord(
            code_repo=code["repo"],
            code_commit=code["commit"],
            entrypoint=code["entrypoint"],
            environment=RunEnvironment(
                image_digest=env.get("image_digest"),
                python=python["version"],
                implementation=python["implementation"],
                platform=env["platform"],
                dependencies_sha256=env["dependencies_sha256"],
            ),
            datasets=[
                DatasetChecksum(dataset_id=name, checksum=checksum)
                for name, checksum in sorted(raw["datasets"].items())
            ],
            seed=raw["seed"],
            hyperparams={k: literal(v) for k, v in sorted(raw["hyperparams"].items())},
            compute=ComputeConfig(
                executor=compute["executor"],
                workers=compute["workers"],
                cpus=compute["cpus"],
                gpus=compute["gpus"],
            ),
            hardware_class=raw["hardware_class"],
        )
    except (KeyError, TypeError, AttributeError, ValidationError) as exc:
        log.warning("runner: a run reported an invalid record: %r", exc)
        return None
