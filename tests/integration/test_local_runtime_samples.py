"""The local runtime's replicas publish drift samples to the log they are given: a
deployment's own replicas do, a canary's baseline replicas (the stable version under
the canary's id) do not."""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path

import httpx
import pytest

from covenant.bus import open_bus
from covenant.dataplane.router import Router
from covenant.events.contract import default_codec
from covenant.events.drift import ObserveSample
from covenant.serving.runtimes import VersionSpec
from covenant.serving.runtimes.local import LocalRuntime
from covenant.topics import DRIFT_SAMPLES
from eval_models import fitted, onnx_bytes


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("runtime") / "model.onnx"
    data = onnx_bytes(fitted(), zipmap=False)
    path.write_bytes(data)
    return path, "sha256:" + hashlib.sha256(data).hexdigest()


async def _ready(runtime: LocalRuntime, key: str) -> str:
    deadline = time.monotonic() + 120
    while True:
        status = await runtime.status(key)
        if status is not None and status.endpoints:
            return status.endpoints[0]
        assert status is None or not status.message, status.message
        assert time.monotonic() < deadline, "no replica became ready"
        await asyncio.sleep(0.1)


async def test_own_replicas_sample_and_baseline_replicas_do_not(
    model: tuple[Path, str], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'log.sqlite3'}"
    router = Router(seed=1)
    await router.start()
    runtime = LocalRuntime(router=router, samples_bus=url, sample_rate=1.0)
    stable = VersionSpec(
        deploy_id="dep-9", model_id="digits:1.0.0", env="sandbox", artifact_uri=str(model[0]),
        artifact_digest=model[1], replicas=1, labels={"route": "digits"},
    )  # fmt: skip
    baseline = VersionSpec(
        deploy_id="dep-9", model_id="digits:0.9.0", env="sandbox", artifact_uri=str(model[0]),
        artifact_digest=model[1], replicas=1, role="baseline", labels={"route": "digits"},
    )  # fmt: skip
    try:
        await runtime.apply(stable)
        await runtime.apply(baseline)
        own, base = await _ready(runtime, stable.key), await _ready(runtime, baseline.key)
        row = [float(i % 16) for i in range(64)]
        async with httpx.AsyncClient() as client:
            for endpoint, name, request_id in ((own, "digits", "own"), (base, "digits", "base")):
                body = {
                    "id": request_id,
                    "inputs": [{"name": "pixels", "shape": [2, 64], "datatype": "FP32",
                                "data": row * 2}],
                }  # fmt: skip
                answer = await client.post(f"{endpoint}/v2/models/{name}/infer", json=body)
                assert answer.status_code == 200, answer.text
    finally:
        await runtime.close()  # a graceful stop: the servers flush what they queued
        await router.close()
    codec = default_codec()
    async with open_bus(url) as bus:
        samples = [codec.decode(r.value) async for r in bus.read([DRIFT_SAMPLES])]
    assert all(isinstance(s, ObserveSample) for s in samples)
    got = sorted((s.request_id, s.route, s.deploy_id, s.model_id) for s in samples)  # type: ignore[attr-defined]
    assert got == [
        ("own#0", "digits", "dep-9", "digits:1.0.0"),
        ("own#1", "digits", "dep-9", "digits:1.0.0"),
    ]
