"""The model server as a real process over real HTTP: OIP shapes, errors, provenance,
trace continuity, metrics, and the refusal exit."""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from covenant.dataplane.server import REFUSED_EXIT
from covenant.provenance import (
    build_statement,
    embed_watermark,
    sign_envelope,
    subjects_from_digests,
)
from covenant.signing import LocalKeySigner
from eval_models import fitted, onnx_bytes
from provenance_support import predicate


def _argv(root: Path, digest: str, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "covenant.model_server", "--model-id", "digits:1.2.0",
        "--digest", digest, "--port", "0", "--warmup", *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("served")
    signer = LocalKeySigner.generate(root / "notary.pem")
    model = onnx_bytes(fitted(), zipmap=False)
    (root / "model.onnx").write_bytes(model)
    digest = hashlib.sha256(model).hexdigest()
    statement = build_statement(subjects_from_digests({"model.onnx": digest}), predicate())
    envelope = asyncio.run(sign_envelope(statement, signer))
    (root / "manifest.dsse.json").write_bytes(envelope.to_bytes())
    (root / "notary.pub").write_bytes(signer.public_key_pem())
    embed_watermark(root / "model.onnx", root / "marked.onnx", envelope)
    return {"root": root, "digest": f"sha256:{digest}", "key_id": signer.key_id}


@pytest.fixture(scope="module")
def server(signed: dict[str, object]) -> Iterator[str]:
    root, digest = signed["root"], signed["digest"]
    assert isinstance(root, Path)
    assert isinstance(digest, str)
    argv = _argv(root, digest, "--env", "prod", "--model", str(root / "marked.onnx"))
    argv += ["--manifest", str(root / "manifest.dsse.json")]
    argv += ["--trusted-key", str(root / "notary.pub")]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    assert line.startswith("READY http://127.0.0.1:"), line
    yield line.removeprefix("READY ")
    process.terminate()
    assert process.wait(timeout=30) == -15  # graceful, then uvicorn re-raises SIGTERM


def _row() -> list[float]:
    return [float(i % 16) for i in range(64)]


def test_health_server_and_model_metadata(server: str) -> None:
    assert httpx.get(f"{server}/v2/health/live").json() == {"live": True}
    assert httpx.get(f"{server}/v2/health/ready").json() == {"ready": True}
    assert httpx.get(f"{server}/v2").json()["extensions"] == []
    meta = httpx.get(f"{server}/v2/models/digits").json()
    assert meta["versions"] == ["1.2.0"]
    assert meta["inputs"] == [{"name": "pixels", "datatype": "FP32", "shape": [-1, 64]}]
    assert httpx.get(f"{server}/v2/models/digits/ready").json()["ready"] is True


def test_infer_flat_and_nested_data_agree(server: str, signed: dict[str, object]) -> None:
    flat = {"id": "r1", "inputs": [
        {"name": "pixels", "shape": [2, 64], "datatype": "FP32", "data": _row() * 2}
    ]}  # fmt: skip
    nested = {"inputs": [
        {"name": "pixels", "shape": [2, 64], "datatype": "FP32", "data": [_row(), _row()]}
    ]}  # fmt: skip
    one = httpx.post(f"{server}/v2/models/digits/infer", json=flat)
    two = httpx.post(f"{server}/v2/models/digits/versions/1.2.0/infer", json=nested)
    assert one.status_code == 200
    assert two.status_code == 200
    body = one.json()
    assert body["id"] == "r1"
    assert body["model_name"] == "digits"
    assert body["model_version"] == "1.2.0"
    outputs = {o["name"]: o for o in body["outputs"]}
    assert outputs["label"]["datatype"] == "INT64"
    assert outputs["label"]["shape"] == [2]
    assert outputs["probabilities"]["shape"] == [2, 10]
    assert body["outputs"] == two.json()["outputs"]
    assert body["parameters"]["artifact_digest"] == signed["digest"]
    assert body["parameters"]["signer_id"] == signed["key_id"]
    assert one.headers["x-covenant-model-id"] == "digits:1.2.0"
    assert one.headers["x-covenant-signer-id"] == signed["key_id"]


def test_requested_outputs_only(server: str) -> None:
    request = {"inputs": [{"name": "pixels", "shape": [1, 64], "datatype": "FP32", "data": _row()}],
               "outputs": [{"name": "label"}]}  # fmt: skip
    body = httpx.post(f"{server}/v2/models/digits/infer", json=request).json()
    assert [o["name"] for o in body["outputs"]] == ["label"]


def test_traceparent_keeps_the_trace_and_makes_a_new_span(server: str) -> None:
    incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    request = {"inputs": [{"name": "pixels", "shape": [1, 64], "datatype": "FP32", "data": _row()}]}
    answer = httpx.post(
        f"{server}/v2/models/digits/infer", json=request, headers={"traceparent": incoming}
    )
    version, trace, span, flags = answer.headers["traceparent"].split("-")
    assert (version, trace, flags) == ("00", "4bf92f3577b34da6a3ce929d0e0e4736", "01")
    assert span != "00f067aa0ba902b7"
    assert len(span) == 16
    assert answer.json()["parameters"]["trace_id"] == trace
    fresh = httpx.post(f"{server}/v2/models/digits/infer", json=request)
    assert fresh.headers["traceparent"].split("-")[1] != trace


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"inputs": [{"name": "pixels", "shape": [1, 64], "datatype": "FP32", "data": [1.0]}]},
         "do not fill shape"),
        ({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1.0]}]},
         "unexpected input 'x'"),
        ({"inputs": [{"name": "pixels", "shape": [1, 64], "datatype": "INT64", "data": [0] * 64}]},
         "the model takes FP32"),
        ({"inputs": []}, "non-empty list"),
    ],
)  # fmt: skip
def test_bad_requests_are_400_with_an_error(server: str, body: object, fragment: str) -> None:
    answer = httpx.post(f"{server}/v2/models/digits/infer", json=body)
    assert answer.status_code == 400
    assert fragment in answer.json()["error"]


def test_unknown_model_is_404_and_bad_json_400(server: str) -> None:
    answer = httpx.post(f"{server}/v2/models/nope/infer", json={"inputs": []})
    assert answer.status_code == 404
    assert "nope" in answer.json()["error"]
    bad = httpx.post(f"{server}/v2/models/digits/infer", content=b"{")
    assert bad.status_code == 400
    assert "not JSON" in bad.json()["error"]


def test_metrics_count_requests_and_errors_per_model_and_version(server: str) -> None:
    def value(text: str, name: str) -> float:
        for line in text.splitlines():
            if line.startswith(name + '{model="digits",version="1.2.0"}'):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    before = httpx.get(f"{server}/metrics").text
    request = {"inputs": [{"name": "pixels", "shape": [1, 64], "datatype": "FP32", "data": _row()}]}
    httpx.post(f"{server}/v2/models/digits/infer", json=request)
    httpx.post(f"{server}/v2/models/digits/infer", json={"inputs": []})
    after = httpx.get(f"{server}/metrics").text
    assert (
        value(after, "covenant_model_requests_total")
        == value(before, "covenant_model_requests_total") + 2
    )
    assert (
        value(after, "covenant_model_errors_total")
        == value(before, "covenant_model_errors_total") + 1
    )
    assert value(after, "covenant_model_latency_seconds_count") >= 2


def test_an_unsigned_model_in_prod_exits_refused_with_one_json_line(
    signed: dict[str, object],
) -> None:
    root, digest = signed["root"], signed["digest"]
    assert isinstance(root, Path)
    assert isinstance(digest, str)
    argv = _argv(root, digest, "--env", "prod", "--model", str(root / "model.onnx"))
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == REFUSED_EXIT
    assert json.loads(done.stderr.strip().splitlines()[-1])["refused"] == "unsigned"
    assert "READY" not in done.stdout
