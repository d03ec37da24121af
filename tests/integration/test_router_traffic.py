"""The router's traffic rules end to end: the real ``Router`` on a real port in front of
real model-server processes (two versions of the digits model, which answer
differently and say which version they are), driven over HTTP.

* Sticky A/B: a key always lands on one arm, the arm the pure ``choose_arm`` names
  (so the 10,000-key split measured on that function is the router's split).
* Shadow: the caller sees only the primary's answer; the shadow's latency, errors and
  differences are recorded; a dead or killed shadow costs the caller nothing.
* Table swaps under steady concurrent load: no request fails, and every request that
  ran wholly between two swaps was served by an arm of the table then in force.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import signal
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from covenant.dataplane.router import (
    Router,
    RouterArm,
    RouterShadow,
    RouterTable,
    ShadowSamples,
    choose_arm,
)
from eval_models import digits_test_set, fitted, onnx_bytes

ROUTE = "digits"
STICKY = "x-user"


@dataclass(frozen=True)
class Served:
    """One model-server process: its base URL and the version it reports."""

    url: str
    version: str
    process: subprocess.Popen[str]


@contextmanager
def _serve(path: Path, version: str) -> Iterator[Served]:
    digest = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    argv = [
        sys.executable, "-m", "covenant.model_server", "--model-id", f"digits:{version}",
        "--model", str(path), "--digest", digest, "--env", "sandbox", "--port", "0", "--warmup",
    ]  # fmt: skip
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("READY http://127.0.0.1:"), line
        yield Served(line.removeprefix("READY "), version, process)
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two versions that disagree: a converged logistic regression and a one-step one."""
    root = tmp_path_factory.mktemp("router-traffic")
    paths = {"1.0.0": root / "v1.onnx", "2.0.0": root / "v2.onnx"}
    paths["1.0.0"].write_bytes(onnx_bytes(fitted(), zipmap=False))
    paths["2.0.0"].write_bytes(onnx_bytes(fitted(max_iter=1), zipmap=False))
    return paths


@pytest.fixture(scope="module")
def servers(models: dict[str, Path]) -> Iterator[dict[str, Served]]:
    with _serve(models["1.0.0"], "1.0.0") as one, _serve(models["2.0.0"], "2.0.0") as two:
        yield {"a": one, "b": two}


@pytest.fixture
async def router() -> AsyncIterator[tuple[Router, str]]:
    proxy = Router(seed=7)
    url = await proxy.start()
    try:
        yield proxy, url
    finally:
        await proxy.close()


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


def _arm(name: str, weight: int, served: Served) -> RouterArm:
    return RouterArm(name, weight, (served.url,), ROUTE, served.version)


def _ab(servers: dict[str, Served], a: int, *, sticky: str | None = None) -> RouterTable:
    arms = (_arm("a", a, servers["a"]), _arm("b", 100 - a, servers["b"]))
    return RouterTable(route=ROUTE, arms=arms, sticky_key=sticky)


def _request(i: int) -> bytes:
    """A single-row OIP request: held-out digit ``i`` (the rows vary, so do answers)."""
    features = digits_test_set().features
    row = [float(v) for v in features[i % len(features)]]
    inputs = [{"name": "pixels", "shape": [1, 64], "datatype": "FP32", "data": row}]
    return json.dumps({"inputs": inputs}).encode()


@dataclass(frozen=True)
class Answer:
    status: int
    arm: str | None
    version: str | None  # the x-covenant-model-version header
    content_type: str
    body: dict[str, Any]


async def _infer(
    client: aiohttp.ClientSession, base: str, body: bytes, headers: dict[str, str] | None = None
) -> Answer:
    async with client.post(
        f"{base}/v2/models/{ROUTE}/infer",
        data=body,
        headers={"content-type": "application/json", **(headers or {})},
    ) as response:
        raw, got = await response.read(), response.headers
        arm, version = got.get("x-covenant-arm"), got.get("x-covenant-model-version")
        return Answer(response.status, arm, version, response.content_type, json.loads(raw))


async def _until(condition: Callable[[], bool]) -> None:
    """Wait for ``condition``; the generous bound only stops a hung test, it asserts
    nothing about speed."""
    async with asyncio.timeout(120):
        while True:
            if condition():
                return
            await asyncio.sleep(0.02)


def _grown(items: list[Any], *, by: int) -> Callable[[], bool]:
    """Whether ``items`` has ``by`` more entries than now: progress counted in
    requests, not seconds."""
    target = len(items) + by
    return lambda: len(items) >= target


class _Shadow:
    """The router's shadow samples, drained into one place as they arrive."""

    def __init__(self, router: Router) -> None:
        self.router, self.seen = router, ShadowSamples()

    def count(self) -> int:
        taken = self.router.take_shadow(ROUTE)
        self.seen.latency_ms += taken.latency_ms
        self.seen.error += taken.error
        self.seen.differed += taken.differed
        return len(self.seen.latency_ms)

    async def wait_for(self, n: int) -> ShadowSamples:
        await _until(lambda: self.count() >= n)
        assert self.count() == n  # one sample per mirrored request, never more
        return self.seen


# -- sticky A/B ----------------------------------------------------------------------
async def test_sticky_keys_keep_their_arm_through_the_router(
    servers: dict[str, Served], router: tuple[Router, str], client: aiohttp.ClientSession
) -> None:
    proxy, base = router
    table = _ab(servers, 50, sticky=STICKY)
    proxy.set_table(table)
    keys = [f"user-{i}" for i in range(200)]
    seen: dict[str, set[str]] = {key: set() for key in keys}
    gate = asyncio.Semaphore(16)

    async def one(i: int, key: str) -> None:
        async with gate:
            answer = await _infer(client, base, _request(i), {STICKY: key})
        assert answer.status == 200, answer.body
        assert answer.arm is not None
        # the arm's name, its header and the body all name the same version
        assert answer.version == servers[answer.arm].version
        assert answer.body["model_version"] == servers[answer.arm].version
        seen[key].add(answer.arm)

    for _ in range(3):  # rounds, so a key's requests are apart, other keys in between
        await asyncio.gather(*(one(i, key) for i, key in enumerate(keys)))
    assert all(len(arms) == 1 for arms in seen.values())
    by_router = {key: next(iter(arms)) for key, arms in seen.items()}
    assert by_router == {
        key: choose_arm(table, sticky_value=key, draw=0.0).name for key in keys
    }  # the router's choice is the pure function's
    assert set(by_router.values()) == {"a", "b"}


@pytest.mark.parametrize("a", [50, 80])
def test_sticky_split_over_ten_thousand_keys_is_within_two_percent(
    servers: dict[str, Served], a: int
) -> None:
    table = _ab(servers, a, sticky=STICKY)
    keys = (f"user-{i}" for i in range(10_000))
    arms = Counter(choose_arm(table, sticky_value=key, draw=0.0).name for key in keys)
    assert abs(arms["a"] / 10_000 - a / 100) <= 0.02
    assert abs(arms["b"] / 10_000 - (100 - a) / 100) <= 0.02


# -- shadow --------------------------------------------------------------------------
def _shadowed(primary: Served, shadow_url: str, version: str) -> RouterTable:
    return RouterTable(
        route=ROUTE,
        arms=(_arm("primary", 100, primary),),
        shadow=RouterShadow((shadow_url,), ROUTE, version, sample_rate=1.0),
    )


async def _primary_only(
    client: aiohttp.ClientSession, base: str, primary: Served, indices: range
) -> None:
    """Each request through the router answers exactly what the primary answers
    directly: same outputs, same version in header and body."""
    for i in indices:
        routed = await _infer(client, base, _request(i))
        direct = await _infer(client, primary.url, _request(i))
        assert routed.status == 200, routed.body
        assert routed.arm == "primary"
        assert routed.version == primary.version
        assert routed.body["model_version"] == primary.version
        assert routed.body["parameters"]["model_id"] == f"digits:{primary.version}"
        assert routed.body["outputs"] == direct.body["outputs"]
        assert routed.content_type == direct.content_type == "application/json"


async def test_the_caller_sees_the_primary_and_the_shadow_differences_are_recorded(
    servers: dict[str, Served], router: tuple[Router, str], client: aiohttp.ClientSession
) -> None:
    proxy, base = router
    primary, other = servers["a"], servers["b"]
    shadow = _Shadow(proxy)
    proxy.set_table(_shadowed(primary, other.url, other.version))
    await _primary_only(client, base, primary, range(40))
    samples = await shadow.wait_for(40)
    assert samples.error == [0.0] * 40
    assert len(samples.differed) == 40
    assert sum(samples.differed) > 0  # the one-step model answers otherwise
    # control: a shadow serving the primary's own model never differs
    proxy.set_table(_shadowed(primary, primary.url, primary.version))
    await _primary_only(client, base, primary, range(40, 60))
    same = await shadow.wait_for(60)
    assert same.differed[40:] == [0.0] * 20


def _dead_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"  # closed on return: nobody listens


async def test_a_shadow_on_a_dead_port_changes_nothing_for_the_caller(
    servers: dict[str, Served], router: tuple[Router, str], client: aiohttp.ClientSession
) -> None:
    proxy, base = router
    shadow = _Shadow(proxy)
    proxy.set_table(_shadowed(servers["a"], _dead_port(), "2.0.0"))
    await _primary_only(client, base, servers["a"], range(30))
    samples = await shadow.wait_for(30)
    assert samples.error == [1.0] * 30
    assert samples.differed == []  # a failed copy has no answer to compare


async def test_a_shadow_killed_mid_traffic_changes_nothing_for_the_caller(
    models: dict[str, Path],
    servers: dict[str, Served],
    router: tuple[Router, str],
    client: aiohttp.ClientSession,
) -> None:
    proxy, base = router
    shadow = _Shadow(proxy)
    with _serve(models["2.0.0"], "2.0.0") as doomed:
        proxy.set_table(_shadowed(servers["a"], doomed.url, doomed.version))
        await _primary_only(client, base, servers["a"], range(30))
        before = await shadow.wait_for(30)
        assert before.error == [0.0] * 30  # alive, with pooled connections to it
        doomed.process.send_signal(signal.SIGKILL)
        assert doomed.process.wait(timeout=30) == -signal.SIGKILL
        await _primary_only(client, base, servers["a"], range(30, 60))
        after = await shadow.wait_for(60)
    assert after.error[30:] == [1.0] * 30


# -- table swaps under load ----------------------------------------------------------
async def test_table_swaps_under_load_fail_no_request(
    servers: dict[str, Served], router: tuple[Router, str], client: aiohttp.ClientSession
) -> None:
    proxy, base = router
    plan = [100, 50, 0, 100] * 3
    epoch = 0  # which table of the plan is in force
    proxy.set_table(_ab(servers, plan[0]))
    results: list[tuple[int, int, Answer | BaseException]] = []
    stop = asyncio.Event()

    async def caller(i: int) -> None:
        while not stop.is_set():
            started = epoch
            try:
                outcome: Answer | BaseException = await _infer(client, base, _request(i))
            except (aiohttp.ClientError, TimeoutError) as exc:
                outcome = exc
            results.append((started, epoch, outcome))
            i += 8

    callers = [asyncio.create_task(caller(n)) for n in range(8)]
    try:
        for step in range(1, len(plan)):
            await _until(_grown(results, by=60))
            proxy.set_table(_ab(servers, plan[step]))
            epoch = step
        await _until(_grown(results, by=60))
    finally:
        stop.set()
        await asyncio.gather(*callers)

    failed = [r for r in results if not isinstance(r[2], Answer) or r[2].status != 200]
    assert failed == []
    per_epoch: dict[int, set[str]] = {}
    for started, ended, answer in results:
        assert isinstance(answer, Answer)
        assert answer.arm is not None
        assert answer.version == servers[answer.arm].version
        if started == ended:  # ran wholly under one table: that table chose its arm
            per_epoch.setdefault(started, set()).add(answer.arm)
    allowed = {100: {"a"}, 50: {"a", "b"}, 0: {"b"}}
    assert set(per_epoch) == set(range(len(plan)))
    for step, arms in per_epoch.items():  # and a 50/50 table really splits
        assert arms == allowed[plan[step]], (step, plan[step], arms)
