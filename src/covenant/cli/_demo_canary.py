"""The demo's canaries: a healthy version walks its steps to 100 % in prod, a version
with a planted regression is rolled back by the serving worker on its own, and a
client load runs through the router the whole time, counting failed requests.

The step plan is small so the demo stays quick: two analysed steps (25 % and 50 %)
of 50 canary requests each, a metric judged from 30 samples per side. A production
plan asks more (the default is 200 a step over four steps); this one is enough for
the regression here, which moves accuracy from about 0.95 to about 0.1 (see
:mod:`covenant.cli._demo_versions`), and says so in what the demo prints.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from covenant.cli._demo_example import DemoError
from covenant.cli._demo_training import _ask, _Watch
from covenant.events.serving import (
    CanaryAnalysed,
    CanaryConfig,
    CanaryMetric,
    DeploymentRecorded,
    DeploymentResources,
    DeploymentStatus,
    DeployModel,
)
from covenant.platform import Platform

__all__ = ["ONE_REPLICA", "PLAN", "CanaryResult", "run_canaries"]

PLAN = CanaryConfig(
    steps=[25, 50, 100],
    step_requests=50,
    max_step_s=30,
    metrics=[
        CanaryMetric(name="accuracy", direction="higher_is_better", critical=True, min_samples=30),
        CanaryMetric(name="error", direction="lower_is_better", critical=True, min_samples=30),
        # Two fresh processes on a shared machine differ in latency by chance: judged,
        # but only a doubling counts (as in tests/integration/test_serving_flow.py).
        CanaryMetric(
            name="latency_ms", direction="lower_is_better", effect_floor=1.0, min_samples=30
        ),
    ],
)
# The demo's load (about 70 requests a second) would autoscale prod to a second
# replica, a process that takes the shared machine's CPU from the canary for seconds;
# one replica a version serves it (autoscaling: tests/integration/test_serving_*).
ONE_REPLICA = DeploymentResources(max_replicas=1)
_ENDED = (DeploymentStatus.SERVING, DeploymentStatus.ROLLED_BACK, DeploymentStatus.FAILED)


@dataclass
class CanaryResult:
    """What the canaries did, for the terminal and for ``--json``."""

    plan: str = ""
    passed: str = ""
    passed_percent: int = 0
    passed_steps: list[str] = field(default_factory=list)
    rolled_back: str = ""
    rollback_status: str = ""
    rollback_reason: str = ""
    explanation: list[str] = field(default_factory=list)
    client_ok: int = 0
    client_failed: int = 0
    client_failures: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _body(pixels: list[float], label: int) -> dict[str, Any]:
    return {
        "inputs": [{"name": "pixels", "shape": [1, 64], "datatype": "FP32", "data": pixels}],
        "parameters": {"covenant.label": label},  # the router scores labelled answers
    }


@dataclass
class _Load:
    """Labelled requests at a steady pace through the router, from three callers; the
    pixels scaled to 0-1, as the digits model was trained and evaluated on them."""

    url: str
    ok: int = 0
    failed: list[str] = field(default_factory=list)
    #: What the clients do to each image before sending it (the drift step shifts it).
    transform: Callable[[list[float]], list[float]] = list

    async def run(self, stop: asyncio.Event) -> None:
        from sklearn.datasets import load_digits

        data = load_digits()
        rows = [
            (self.transform([float(v) / 16.0 for v in x]), int(y))
            for x, y in zip(data.data, data.target, strict=True)
        ]
        # In a fixed random order: the file is in blocks by writer, and a window of
        # consecutive rows is a few writers' hands, which drift detection rightly sees.
        random.Random(1).shuffle(rows)
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:

            async def caller(i: int) -> None:
                while not stop.is_set():
                    pixels, label = rows[i % len(rows)]
                    try:
                        answer = await client.post(
                            "/v2/models/digits/infer", json=_body(pixels, label)
                        )
                        if answer.status_code == 200:
                            self.ok += 1
                        else:
                            self.failed.append(f"{answer.status_code}: {answer.text[:80]}")
                    except httpx.HTTPError as exc:
                        self.failed.append(repr(exc))
                    i += 3
                    await asyncio.sleep(0.005)  # steady, and leaves the CPU to the rest

            await asyncio.gather(*(caller(k) for k in range(3)))


def _looking(watch: _Watch, deploy_id: str, load: _Load) -> str:
    """One progress line: the canary's latest look, and the clients so far."""
    looks = [a for a in watch.all(CanaryAnalysed) if a.deploy_id == deploy_id]
    where = "starting its replicas and the baseline's"
    if looks:
        last = looks[-1]
        where = (
            f"step {last.step + 1} at {last.traffic_percent} %, {last.decision} "
            f"(canary n={last.n_canary}, baseline n={last.n_baseline})"
        )
    return f"canary {deploy_id}: {where}; clients {load.ok} ok, {len(load.failed)} failed"


async def _rollout(
    platform: Platform,
    watch: _Watch,
    load: _Load,
    deploy_id: str,
    model_id: str,
    progress: Callable[[str], None],
) -> DeploymentRecorded:
    """Deploy ``model_id`` to prod with :data:`PLAN`; its record once the canary ends."""
    await platform.publish(
        _ask(
            DeployModel,
            "route:digits",
            deploy_id=deploy_id,
            model_id=model_id,
            env="prod",
            route="digits",
            resources=ONE_REPLICA,
            canary_config=PLAN,
            reason="the demo's canary",
        )
    )

    async def tick() -> None:
        while True:
            progress(_looking(watch, deploy_id, load))
            await asyncio.sleep(0.25)

    ticker = asyncio.create_task(tick())
    try:
        return await watch.first(
            DeploymentRecorded,
            lambda m: m.record.deploy_id == deploy_id and m.record.status in _ENDED,
            f"the end of {deploy_id}'s canary",
        )
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker


async def _explain(platform: Platform, deploy_id: str) -> dict[str, Any]:
    """What ``covenant serve explain`` reads: the serving worker's fold of the log."""
    from covenant.gateway.serving import Deployments

    view = Deployments(bus=platform.bus, codec=platform.codec)
    await view.start()
    try:
        doc = await view.document(deploy_id, explain=True)
    finally:
        await view.stop()
    if doc is None:
        raise DemoError(f"no record of {deploy_id}")
    return doc


def decisive(doc: dict[str, Any]) -> dict[str, Any]:
    """The explanation with only the looks that decided a step (pass or fail); the
    looks that kept collecting are in ``covenant serve explain``."""
    return doc | {"analyses": [a for a in doc["analyses"] if a["decision"] != "continue"]}


async def run_canaries(
    platform: Platform,
    watch: _Watch,
    router: str,
    healthy: str,
    regressed: str,
    progress: Callable[[str], None],
) -> CanaryResult:
    """Canary ``healthy`` to 100 % and ``regressed`` to its rollback, under load."""
    from covenant.cli.serving import explain_lines

    steps = ", ".join(f"{p} %" for p in PLAN.steps)
    result = CanaryResult(
        plan=f"steps {steps}; {PLAN.step_requests} canary requests a step, metrics judged "
        f"from {PLAN.metrics[0].min_samples} samples a side (small, for the demo: the "
        f"default is {CanaryConfig().step_requests} a step)"
    )
    started = time.monotonic()
    load, stop = _Load(router), asyncio.Event()
    clients = asyncio.create_task(load.run(stop))
    try:
        passed = await _rollout(platform, watch, load, "prod-2", healthy, progress)
        if passed.record.status is not DeploymentStatus.SERVING:
            raise DemoError(f"the healthy canary did not pass: {passed.record.reason}")
        rolled = await _rollout(platform, watch, load, "prod-3", regressed, progress)
        progress("canary: the stable version serving alone again, under the same load")
        await asyncio.sleep(1.0)
    finally:
        stop.set()
        await clients
    result.seconds = time.monotonic() - started
    result.passed = f"prod-2 serving {healthy} on route digits"
    result.passed_percent = passed.record.traffic_percent
    passed_doc = decisive(await _explain(platform, "prod-2")) | {"history": []}
    result.passed_steps = explain_lines(passed_doc)[1:]  # its steps; the records say the same
    result.rolled_back = f"prod-3 ({regressed})"
    result.rollback_status = rolled.record.status.value
    result.rollback_reason = rolled.record.reason.split("; ")[0]  # the rest: explanation
    result.explanation = explain_lines(decisive(await _explain(platform, "prod-3")))
    result.client_ok, result.client_failed = load.ok, len(load.failed)
    result.client_failures = load.failed[:5]
    return result
