"""The demo's next two versions of the digits model, made the way the first was:
trained by the platform on registered data, evaluated against the family's gates,
signed through the HSM and promoted to staging and then to prod with 2 of 3
approvals. Nothing is stipulated: a version the canary judges got to prod through
every check the first one passed.

``digits:1.1.0`` is a healthy retrain (another seed). ``digits:1.2.0`` carries the
planted regression, a training-serving skew: it is trained and evaluated on an
export that inverts the pixels (``16 - v``), so every offline check passes, while
the clients in prod send the images as they always did. Why this regression and
not a slower or erring model: latency on a shared machine is noisy enough that
only a large slowdown is judged reliably (the demo's plan ignores less than a
doubling), and errors would fail client requests, which a canary must not cost;
wrong answers on labelled traffic are caught within a few dozen requests and fail
no request. It is also the regression offline evaluation cannot see, which is what
a canary is for.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Callable
from pathlib import Path

from covenant.cli._demo_example import DemoError, example_data
from covenant.cli._demo_promotion import APPROVERS, TEST_SET, _approve, _promoted, _request
from covenant.cli._demo_training import DATASET, HYPERPARAMS, _ask, _Watch, register_csv
from covenant.events.base import Message
from covenant.events.datasets import Transformation
from covenant.events.evaluation import (
    EvaluationCompleted,
    EvaluationFailed,
    MetricsConfig,
    RunEvaluation,
)
from covenant.events.promotion import Environment, ManifestSigned, PromotionPending, SignManifest
from covenant.events.registry import ModelRegistered
from covenant.events.training import ComputeRequirements, SubmitTraining, TargetModel
from covenant.platform import Platform
from covenant.signing import LocalKeySigner
from covenant.topics import (
    ARTIFACT_EVENTS,
    DATASET_EVENTS,
    EVAL_EVENTS,
    MODEL_EVENTS,
    PROMOTION_EVENTS,
    TRAIN_EVENTS,
    Topic,
)

__all__ = ["HEALTHY", "REGRESSED", "make_versions"]

HEALTHY = TargetModel(family="digits", version="1.1.0")
REGRESSED = TargetModel(family="digits", version="1.2.0")
INVERTED, INVERTED_TEST = "digits-inverted:v1", "digits-inverted-test:v1"
# The first version's recipe without its pause per epoch: that pause is there so
# the demo can kill a run midway, and nothing is killed here.
FAST = HYPERPARAMS | {"epoch_sleep_s": "0"}


class _VersionWatch(_Watch):
    TOPICS: tuple[Topic, ...] = (
        ARTIFACT_EVENTS,
        DATASET_EVENTS,
        TRAIN_EVENTS,
        MODEL_EVENTS,
        EVAL_EVENTS,
        PROMOTION_EVENTS,
    )


def _inverted_training(csv: bytes) -> bytes:
    """``label,p0..p63`` with integer pixels 0-16, each pixel ``16 - v``."""
    header, *rows = csv.decode("ascii").splitlines()
    out = [header]
    for row in rows:
        label, *pixels = row.split(",")
        out.append(",".join([label, *(str(16 - int(p)) for p in pixels)]))
    return ("\n".join(out) + "\n").encode("ascii")


def _inverted_test(csv: bytes) -> bytes:
    """``p0..p63,label,group`` with pixels scaled 0-1, each pixel ``1 - v``."""
    header, *rows = csv.decode("ascii").splitlines()
    out = [header]
    for row in rows:
        *pixels, label, group = row.split(",")
        out.append(",".join([*(repr(1.0 - float(p)) for p in pixels), label, group]))
    return ("\n".join(out) + "\n").encode("ascii")


async def _register_inverted(
    platform: Platform, watch: _Watch, source: Path, code_ref: str
) -> None:
    data = example_data(source)
    train = _inverted_training(data.digits_csv())
    test = _inverted_test(data.evaluation_csv(rows=slice(0, None, 5)))
    for csv, name, dataset_id in (
        (train, "digits-inverted.csv", INVERTED),
        (test, "digits-inverted-test.csv", INVERTED_TEST),
    ):
        step = Transformation(
            name="invert-pixels",
            code_ref=code_ref,
            checksum=f"sha256:{hashlib.sha256(csv).hexdigest()}",
        )
        await register_csv(platform, watch, csv, name, dataset_id, step)


def _train(target: TargetModel, dataset: str, code_ref: str, seed: int) -> SubmitTraining:
    return _ask(
        SubmitTraining,
        f"digits-{target.version}",
        job_id=f"digits-{target.version}",
        model_family=target.family,
        team="vision",
        dataset_refs=[dataset],
        code_ref=code_ref,
        entrypoint="digits.train:train",
        hyperparams=FAST,
        seed=seed,
        compute=ComputeRequirements(pool="gpu-us-east", accelerator="A100", accelerators=2),
        target=target,
    )


async def _promote(platform: Platform, watch: _Watch, model_id: str, test_set: str) -> None:
    """Evaluate, sign and promote ``model_id`` to staging and prod, as step 5 does."""
    home = platform.settings.home
    tag = model_id.replace(":", "-")
    await platform.publish(
        _ask(
            RunEvaluation,
            model_id,
            eval_id=f"eval-{tag}",
            model_id=model_id,
            test_set_refs=[test_set],
            metrics=MetricsConfig(sensitive_attribute="group"),
        )
    )
    outcome = await watch.first(
        Message,
        lambda m: (
            isinstance(m, EvaluationCompleted | EvaluationFailed) and m.eval_id == f"eval-{tag}"
        ),
        f"{model_id}'s evaluation",
    )
    if isinstance(outcome, EvaluationFailed) or not getattr(outcome, "passed", False):
        raise DemoError(f"{model_id} did not pass its evaluation: {outcome}")
    await platform.publish(
        _ask(SignManifest, f"model:{model_id}", manifest_id=f"manifest-{tag}", model_id=model_id)
    )
    await watch.first(
        ManifestSigned, lambda m: m.signature.model_id == model_id, f"{model_id}'s signature"
    )
    await platform.publish(_request(Environment.STAGING, f"{tag}-to-staging", model_id))
    await _promoted(watch, f"{tag}-to-staging")
    await platform.publish(_request(Environment.PROD, f"{tag}-to-prod", model_id))
    pending = await watch.first(
        PromotionPending,
        lambda m: m.promotion_id == f"{tag}-to-prod" and m.waiting_for == "approvals",
        f"{model_id}'s request for approvals",
    )
    for name in APPROVERS[:2]:
        key = LocalKeySigner(home / "approvers" / f"{name}.pem")
        await platform.publish(await _approve(key, name, pending))
    await _promoted(watch, f"{tag}-to-prod")


def _registered(model_id: str) -> Callable[[ModelRegistered], bool]:
    return lambda e: e.entry.model_id == model_id


async def make_versions(
    platform: Platform, source: Path, code_ref: str, progress: Callable[[str], None]
) -> tuple[str, str]:
    """Train and promote the healthy and the regressed version (both jobs at once);
    their model ids, once both are promoted to prod."""
    watch = _VersionWatch(platform, progress)
    following = asyncio.create_task(watch.follow())
    try:
        await _register_inverted(platform, watch, source, code_ref)
        await platform.publish(
            _train(HEALTHY, DATASET, code_ref, seed=7),
            _train(REGRESSED, INVERTED, code_ref, seed=42),
        )
        ids: list[str] = []
        for target, test_set in ((HEALTHY, TEST_SET), (REGRESSED, INVERTED_TEST)):
            model_id = f"{target.family}:{target.version}"
            await watch.first(ModelRegistered, _registered(model_id), model_id)
            progress(f"versions: {model_id} trained; evaluating, signing, promoting it")
            await _promote(platform, watch, model_id, test_set)
            ids.append(model_id)
    finally:
        following.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await following
    return ids[0], ids[1]
