"""Drift samples from a real model-server process: one ``drift.sample`` per answered
row on the samples topic, read back from the log the server was given."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from covenant.bus import open_bus
from covenant.events.contract import default_codec
from covenant.events.drift import ObserveSample
from covenant.topics import DRIFT_SAMPLES
from eval_models import fitted, onnx_bytes

INFER = "/v2/models/digits/infer"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("served") / "model.onnx"
    data = onnx_bytes(fitted(), zipmap=False)
    path.write_bytes(data)
    return path, f"sha256:{hashlib.sha256(data).hexdigest()}"


def _argv(model: tuple[Path, str], *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "covenant.model_server", "--model-id", "digits:1.2.0",
        "--model", str(model[0]), "--digest", model[1], "--env", "sandbox",
        "--port", "0", "--warmup", *extra,
    ]  # fmt: skip


Start = Callable[..., tuple["subprocess.Popen[str]", str]]


@pytest.fixture
def start(model: tuple[Path, str]) -> Iterator[Start]:
    """Starts a server with extra flags; returns the process and its URL."""
    started: list[subprocess.Popen[str]] = []

    def run(*extra: str) -> tuple[subprocess.Popen[str], str]:
        process = subprocess.Popen(_argv(model, *extra), stdout=subprocess.PIPE, text=True)
        started.append(process)
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("READY http://127.0.0.1:"), line
        return process, line.removeprefix("READY ")

    yield run
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def _rows(request: int) -> list[list[float]]:
    """Three distinct rows of whole numbers (exact in FP32) per request."""
    return [[float((request * 7 + row * 3 + i) % 17) for i in range(64)] for row in range(3)]


def _request(n: int, rows: list[list[float]]) -> dict[str, object]:
    body: dict[str, object] = {
        "inputs": [{"name": "pixels", "shape": [3, 64], "datatype": "FP32", "data": rows}]
    }
    if n != 0:  # request 0 has no id: its samples carry the trace id
        body["id"] = f"req-{n}"
    if n == 1:
        body["parameters"] = {
            "covenant.attributes": {"region": "eu", "vip": True, "age": [31, 45, 52]}
        }
    return body


def _send(url: str, requests: int) -> dict[str, tuple[list[float], str]]:
    """Send the requests; the features and answered label of every row, by request id."""
    expected: dict[str, tuple[list[float], str]] = {}
    headers = {"traceparent": f"00-{TRACE}-00f067aa0ba902b7-01"}
    with httpx.Client(base_url=url) as client:
        for n in range(requests):
            rows = _rows(n)
            answer = client.post(INFER, json=_request(n, rows), headers=headers)
            assert answer.status_code == 200, answer.text
            labels = next(o for o in answer.json()["outputs"] if o["name"] == "label")["data"]
            base = f"req-{n}" if n else TRACE
            for row, (features, label) in enumerate(zip(rows, labels, strict=True)):
                expected[f"{base}#{row}"] = (features, str(label))
    return expected


async def _samples(url: str) -> list[ObserveSample]:
    codec = default_codec()
    async with open_bus(url) as bus:
        await bus.ensure_topics([DRIFT_SAMPLES])
        out = []
        async for record in bus.read([DRIFT_SAMPLES]):
            message = codec.decode(record.value)
            assert isinstance(message, ObserveSample)
            assert record.key == b"route:digits-route"
            out.append(message)
        return out


def _wait_for(url: str, count: int, timeout_s: float = 30.0) -> list[ObserveSample]:
    deadline = time.monotonic() + timeout_s
    while True:
        samples = asyncio.run(_samples(url))
        if len(samples) >= count or time.monotonic() > deadline:
            return samples
        time.sleep(0.2)


def _metric(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _check(samples: list[ObserveSample], expected: dict[str, tuple[list[float], str]]) -> None:
    by_id = {s.request_id: s for s in samples}
    assert len(by_id) == len(samples), "one sample per row, none twice"
    assert set(by_id) == set(expected)
    for request_id, (features, label) in expected.items():
        sample = by_id[request_id]
        assert sample.features == features
        assert sample.prediction == label
        assert sample.route == "digits-route"
        assert sample.deploy_id == "dep-7"
        assert sample.model_id == "digits:1.2.0"
        assert sample.meta.subject == "route:digits-route"
        assert sample.meta.producer == "model-server"
        assert sample.meta.correlation_id == TRACE
    assert by_id["req-1#0"].attributes == {"region": "eu", "vip": "true", "age": "31"}
    assert by_id["req-1#2"].attributes == {"region": "eu", "vip": "true", "age": "52"}
    assert by_id["req-2#0"].attributes == {}


def test_every_row_is_published_with_its_features_prediction_and_ids(
    start: Start, bus_url: str
) -> None:
    process, url = start(
        "--samples-bus", bus_url, "--sample-rate", "1",
        "--route", "digits-route", "--deploy-id", "dep-7",
    )  # fmt: skip
    expected = _send(url, 6)
    samples = _wait_for(bus_url, len(expected))
    _check(samples, expected)
    metrics = httpx.get(f"{url}/metrics").text
    assert _metric(metrics, "covenant_samples_published_total") == len(expected)
    assert _metric(metrics, "covenant_samples_dropped_total") == 0
    process.terminate()
    assert process.wait(timeout=30) == -15


def test_queued_samples_are_flushed_on_sigterm(start: Start, tmp_path: Path) -> None:
    bus_url = f"sqlite:///{tmp_path / 'log.sqlite3'}"
    process, url = start(
        "--samples-bus", bus_url, "--sample-rate", "1",
        "--route", "digits-route", "--deploy-id", "dep-7",
    )  # fmt: skip
    expected = _send(url, 4)
    process.terminate()  # at once: most rows are still queued
    assert process.wait(timeout=30) == -15
    _check(asyncio.run(_samples(bus_url)), expected)


def test_rate_zero_publishes_nothing(start: Start, tmp_path: Path) -> None:
    log = tmp_path / "log.sqlite3"
    process, url = start(
        "--samples-bus", f"sqlite:///{log}", "--sample-rate", "0",
        "--route", "digits-route", "--deploy-id", "dep-7",
    )  # fmt: skip
    _send(url, 3)
    metrics = httpx.get(f"{url}/metrics").text
    assert _metric(metrics, "covenant_samples_published_total") == 0
    process.terminate()
    assert process.wait(timeout=30) == -15
    assert not log.exists(), "sampling off opens no log"


def test_a_bad_sample_rate_exits_2_with_a_clear_message(model: tuple[Path, str]) -> None:
    argv = _argv(model, "--samples-bus", "sqlite:///x.sqlite3", "--sample-rate", "1.5")
    done = subprocess.run(
        [*argv, "--route", "r", "--deploy-id", "d"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    assert "--sample-rate" in done.stderr
    assert "between 0 and 1" in done.stderr
    assert "READY" not in done.stdout
