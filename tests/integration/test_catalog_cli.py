"""The catalog commands against a running platform (``covenant up``), as a user
runs them: files in, lineage out, errors with reasons."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from covenant.testing.kafka import free_port


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[dict[str, str]]:
    port = free_port()
    env = {
        "COVENANT_HOME": str(tmp_path / "home"),
        "COVENANT_GATEWAY": f"http://127.0.0.1:{port}",
        "COVENANT_ROUTER_URL": f"http://127.0.0.1:{free_port()}",
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "USER": "alice",
    }
    log = (tmp_path / "up.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "covenant", "up"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "up.log").read_text()[-2000:]
            try:
                if httpx.get(f"{env['COVENANT_GATEWAY']}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the gateway did not come up"
            time.sleep(0.2)
        yield env
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, (tmp_path / "up.log").read_text()[-2000:]


def covenant(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "covenant", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_file_to_lineage_through_the_cli(platform: dict[str, str], tmp_path: Path) -> None:
    data = tmp_path / "train.csv"
    data.write_bytes(b"x,y\n" + b"".join(f"{i},{i % 3}\n".encode() for i in range(50_000)))
    weights = tmp_path / "model.bin"
    weights.write_bytes(os.urandom(3 << 20))

    put = covenant(platform, "artifacts", "put", str(weights), "--git-commit", "9d1e2b7", "--json")
    assert put.returncode == 0, put.stderr
    artifact = json.loads(put.stdout)["artifactId"]
    assert artifact == "sha256:" + hashlib.sha256(weights.read_bytes()).hexdigest()

    registered = covenant(
        platform,
        "datasets",
        "register",
        "train:v1",
        "--license",
        "MIT",
        "--file",
        str(data),
        "--source",
        "s3://raw/train",
        "--reviewed",
        "--json",
    )
    assert registered.returncode == 0, registered.stderr
    assert json.loads(registered.stdout)["clearance"] == "allowed"

    model = covenant(
        platform,
        "models",
        "register",
        "churn",
        "1.0.0",
        "--code-ref",
        "git@x:churn.git#abc",
        "--artifact",
        artifact,
        "--dataset",
        "train:v1",
        "--metric",
        "auc=0.91",
        "--json",
    )
    assert model.returncode == 0, model.stderr

    duplicate = covenant(
        platform,
        "models",
        "register",
        "churn",
        "1.0.0",
        "--code-ref",
        "git@x:churn.git#abc",
        "--artifact",
        artifact,
    )
    assert duplicate.returncode == 1
    assert "already registered" in duplicate.stderr

    lineage = ""
    for _ in range(50):  # the read models follow the log; give the projector a moment
        shown = covenant(platform, "models", "lineage", "churn:1.0.0")
        lineage = shown.stdout
        if shown.returncode == 0 and "train:v1" in lineage:
            break
        time.sleep(0.2)
    assert "dataset train:v1" in lineage
    assert "git@x:churn.git#abc" in lineage

    copy = tmp_path / "copy.bin"
    got = covenant(platform, "artifacts", "get", artifact, "-o", str(copy))
    assert got.returncode == 0, got.stderr
    assert copy.read_bytes() == weights.read_bytes()
    assert covenant(platform, "artifacts", "verify", artifact, str(copy)).returncode == 0
    assert covenant(platform, "artifacts", "verify", artifact).returncode == 0  # stored bytes
    copy.write_bytes(b"tampered")
    assert covenant(platform, "artifacts", "verify", artifact, str(copy)).returncode == 1


def test_cli_says_what_to_do_when_the_gateway_is_down(tmp_path: Path) -> None:
    env = {
        "COVENANT_HOME": str(tmp_path),
        "COVENANT_GATEWAY": f"http://127.0.0.1:{free_port()}",
        "PATH": "/usr/bin:/bin",
    }
    result = covenant(env, "models", "show", "churn:1.0.0")
    assert result.returncode == 1
    assert "covenant up" in result.stderr
