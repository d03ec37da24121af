"""Serving end to end on the local runtime, on a real log: the serving worker, the agent,
real model-server processes behind the router, and a steady client load through it all.

A healthy canary walks its steps to 100 %; a canary with a planted regression (trained
on shuffled labels, so labelled traffic shows its accuracy falling) is rolled back by
itself with the evidence in the events; a model re-signed by an untrusted key is refused
by the prod server; and the client, labelled requests at a steady rate the whole time,
sees no failed request."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from covenant.blobs.folder import FolderBlobStore
from covenant.bus import Bus
from covenant.dataplane.router import Router
from covenant.events.contract import default_codec
from covenant.events.serving import (
    CanaryAnalysed,
    CanaryConfig,
    CanaryMetric,
    DeploymentRecorded,
    DeploymentRefused,
    DeploymentStatus,
)
from covenant.serving.agent import AgentOptions, ServingAgent
from covenant.serving.artifacts import LocalArtifacts
from covenant.serving.runtimes.local import LocalRuntime
from covenant.serving.state import ServingState
from covenant.serving.worker import make_serving_worker
from covenant.signing import LocalKeySigner
from covenant.testing import builders as b
from covenant.testing import publish, running, wait_for
from covenant.topics import ALL_TOPICS
from serving_support import digits, model, served_model

PLAN = CanaryConfig(
    steps=[10, 25, 50, 100],
    step_requests=80,
    max_step_s=60,
    metrics=[
        CanaryMetric(name="accuracy", direction="higher_is_better", critical=True),
        CanaryMetric(name="error", direction="lower_is_better", critical=True),
        # Latency of two fresh processes on a shared 2-core machine is noisy: judged,
        # but only a doubling would count here.
        CanaryMetric(name="latency_ms", direction="lower_is_better", effect_floor=1.0),
    ],
)


@dataclass
class Load:
    """Labelled requests through the router, as fast as three callers go."""

    url: str
    ok: int = 0
    failed: list[str] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        x, y = digits()
        async with aiohttp.ClientSession() as session:

            async def caller(offset: int) -> None:
                i = offset
                while not stop.is_set():
                    row = i % len(x)
                    body = {
                        "inputs": [
                            {"name": "pixels", "shape": [1, 64], "datatype": "FP32",
                             "data": x[row].tolist()}
                        ],
                        "parameters": {"covenant.label": int(y[row])},
                    }  # fmt: skip
                    try:
                        async with session.post(
                            f"{self.url}/v2/models/digits/infer", json=body
                        ) as answer:
                            text = await answer.read()
                            if answer.status == 200:
                                self.ok += 1
                            else:
                                self.failed.append(f"{answer.status}: {text[:120]!r}")
                    except aiohttp.ClientError as exc:
                        self.failed.append(repr(exc))
                    i += 3
                    await asyncio.sleep(0.002)

            await asyncio.gather(*(caller(k) for k in range(3)))


@contextlib.asynccontextmanager
async def serving(
    bus: Bus, blobs: FolderBlobStore, keys: tuple[Path, ...], home: Path
) -> AsyncIterator[str]:
    router = Router(seed=1)
    url = await router.start()
    runtime = LocalRuntime(router=router, trusted_keys=keys)
    state = ServingState()
    artifacts = LocalArtifacts(blobs, home / "models", state)
    agent = ServingAgent(
        bus=bus,
        codec=default_codec(),
        runtime=runtime,
        locate=artifacts.locate,
        meter=runtime,
        prepare=artifacts.prepare,
        state=state,
        options=AgentOptions(interval_s=0.1, canary_window_s=0.5, load_window_s=5.0),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    try:
        async with running(bus, [make_serving_worker()]):
            yield url
    finally:
        stop.set()
        await task
        await router.close()


async def routed(url: str, route: str, timeout_s: float = 30.0) -> None:
    """Until the router has a table for ``route`` (its Open Inference ready probe)."""
    async with aiohttp.ClientSession() as session:
        async with asyncio.timeout(timeout_s):
            while True:
                async with session.get(f"{url}/v2/models/{route}/ready") as answer:
                    if answer.status == 200:
                        return
                await asyncio.sleep(0.05)


def status_is(deploy_id: str, *statuses: DeploymentStatus) -> Callable[[DeploymentRecorded], bool]:
    return lambda m: m.record.deploy_id == deploy_id and m.record.status in statuses


@pytest.mark.parametrize("bus_url", ["sqlite"], indirect=True)
async def test_canary_pass_and_rollback_under_load_with_no_failed_request(
    bus: Bus, tmp_path: Path
) -> None:
    await bus.ensure_topics(ALL_TOPICS)
    blobs = FolderBlobStore(tmp_path / "blobs")
    notary = LocalKeySigner.generate(tmp_path / "notary.pem")
    stranger = LocalKeySigner.generate(tmp_path / "stranger.pem")
    (tmp_path / "notary.pub").write_bytes(notary.public_key_pem())
    facts: list[Any] = []
    facts += await served_model(blobs, notary, "digits:1.0.0", model(seed=0))
    facts += await served_model(blobs, notary, "digits:1.1.0", model(seed=1))
    facts += await served_model(blobs, notary, "digits:1.2.0", model(shuffled=True))
    facts += await served_model(blobs, stranger, "digits:1.3.0", model(seed=2))
    await publish(bus, *facts)
    async with serving(bus, blobs, (tmp_path / "notary.pub",), tmp_path) as url:
        await publish(bus, b.deploy_model("digits:1.0.0", deploy_id="d1", route="digits"))
        await wait_for(
            bus, DeploymentRecorded, status_is("d1", DeploymentStatus.SERVING), timeout_s=60
        )
        # SERVING is the serving worker's record; the agent swaps the router's table on
        # its next tick, so a route's first deployment answers a moment later
        await routed(url, "digits")
        load, stop = Load(url), asyncio.Event()
        clients = asyncio.create_task(load.run(stop))
        try:
            await publish(
                bus,
                b.deploy_model("digits:1.1.0", deploy_id="d2", route="digits", canary_config=PLAN),
            )
            done = await wait_for(
                bus,
                DeploymentRecorded,
                status_is("d2", DeploymentStatus.SERVING, DeploymentStatus.ROLLED_BACK),
                timeout_s=120,
            )
            assert done.record.status is DeploymentStatus.SERVING, done.record.reason
            await publish(
                bus,
                b.deploy_model("digits:1.2.0", deploy_id="d3", route="digits", canary_config=PLAN),
            )
            rolled = await wait_for(
                bus,
                DeploymentRecorded,
                status_is("d3", DeploymentStatus.SERVING, DeploymentStatus.ROLLED_BACK),
                timeout_s=120,
            )
            assert rolled.record.status is DeploymentStatus.ROLLED_BACK
            failed = await wait_for(
                bus, CanaryAnalysed, lambda m: m.deploy_id == "d3" and m.decision == "fail"
            )
            accuracy = [
                v for v in failed.verdicts if v.metric == "accuracy" and v.outcome == "fail"
            ]
            assert accuracy, failed.reason
            assert accuracy[0].canary_summary is not None
            assert accuracy[0].canary_summary < 0.5 < (accuracy[0].baseline_summary or 0)
            await publish(bus, b.deploy_model("digits:1.3.0", deploy_id="d4", route="digits"))
            refused = await wait_for(
                bus, DeploymentRefused, lambda m: m.deploy_id == "d4", timeout_s=60
            )
            assert refused.code == "untrusted_signer"
            await asyncio.sleep(1.0)  # load on the stable after the rollback
        finally:
            stop.set()
            await clients
    assert load.failed == []
    assert load.ok > 500
