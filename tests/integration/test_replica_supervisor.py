"""The replica pool with real server processes: scaling, replacing a SIGKILLed
replica under steady load, and not restarting a refused model."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from covenant.serving.local import ReplicaPool, ServerSpec
from eval_models import fitted, onnx_bytes

REQUEST = {"inputs": [{"name": "pixels", "shape": [1, 64], "datatype": "FP32", "data": [1.0] * 64}]}


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("pool") / "model.onnx"
    data = onnx_bytes(fitted(), zipmap=False)
    path.write_bytes(data)
    return path, "sha256:" + hashlib.sha256(data).hexdigest()


def _spec(model: tuple[Path, str], *, env: str = "sandbox") -> ServerSpec:
    return ServerSpec(
        key="digits-1", model_id="digits:1.0.0", env=env, model_path=model[0],
        artifact_digest=model[1], manifest_path=None, trusted_keys=(),
    )  # fmt: skip


async def test_scale_to_two_then_down_to_one(model: tuple[Path, str]) -> None:
    seen: list[tuple[str, ...]] = []
    pool = ReplicaPool(_spec(model), on_change=seen.append)
    try:
        await pool.scale(2)
        assert pool.ready == 2
        assert pool.desired == 2
        async with httpx.AsyncClient() as client:
            for url in pool.endpoints():
                answer = await client.post(f"{url}/v2/models/digits/infer", json=REQUEST)
                assert answer.status_code == 200
        await pool.scale(1)
        assert len(pool.endpoints()) == 1
        assert seen[-1] == pool.endpoints()
    finally:
        await pool.close()
    assert pool.endpoints() == ()


async def _load(pool: ReplicaPool, stop: asyncio.Event, results: list[bool]) -> None:
    """Requests round-robined across the pool's current endpoints, retried once on
    another endpoint when the connection fails (as the router does)."""
    turn = 0
    async with httpx.AsyncClient(timeout=10) as client:
        while not stop.is_set():
            urls = pool.endpoints()
            if not urls:
                await asyncio.sleep(0.02)
                continue
            ok = False
            for attempt in range(2):
                url = urls[(turn + attempt) % len(urls)]
                try:
                    answer = await client.post(f"{url}/v2/models/digits/infer", json=REQUEST)
                except httpx.TransportError:
                    continue
                ok = answer.status_code == 200
                break
            turn += 1
            results.append(ok)
            await asyncio.sleep(0.01)


async def _until(condition: Callable[[], bool]) -> None:
    """Wait for ``condition``; the generous bound only stops a hung test, it asserts
    nothing about speed."""
    async with asyncio.timeout(180):
        while True:
            if condition():
                return
            await asyncio.sleep(0.05)


async def test_a_killed_replica_is_replaced_under_load(model: tuple[Path, str]) -> None:
    pool = ReplicaPool(_spec(model))
    try:
        await pool.scale(2)
        before = set(pool.pids())
        stop, results = asyncio.Event(), list[bool]()
        load = asyncio.create_task(_load(pool, stop, results))
        await _until(lambda: len(results) >= 20)
        victim = sorted(before)[0]
        os.kill(victim, signal.SIGKILL)
        await _until(lambda: pool.ready == 2 and bool(set(pool.pids()) - before))
        count = len(results)
        await _until(lambda: len(results) >= count + 20)
        stop.set()
        await load
        assert victim not in pool.pids()
        assert set(pool.pids()) - before  # a new pid appeared
        assert results
        assert all(results)
    finally:
        await pool.close()


async def test_a_refused_model_is_recorded_and_not_restarted(model: tuple[Path, str]) -> None:
    pool = ReplicaPool(_spec(model, env="prod"))  # no manifest: unsigned in prod
    try:
        await pool.scale(2)
        assert pool.refusal is not None
        assert pool.refusal.code == "unsigned"
        assert pool.endpoints() == ()
        assert pool.pids() == ()
        await pool.scale(2)  # still refused: nothing is started again
        assert pool.pids() == ()
    finally:
        await pool.close()
