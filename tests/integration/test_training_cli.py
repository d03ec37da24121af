"""``covenant train`` and ``covenant trace`` as a person runs them, through the real
typer app: the training commands against a gateway served in this process (a
thread with its own event loop runs the embedded log, the training worker and the
gateway on a loopback port), the trace against records on the embedded log."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from covenant.blobs import FolderBlobStore
from covenant.cli._app import app
from covenant.events.contract import default_codec
from covenant.gateway import run_gateway
from covenant.store import open_store
from covenant.testing import ManualClock, builders, embedded_log, publish, running
from covenant.training.pools import default_pools
from covenant.training.worker import make_training_worker

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of a ``covenant`` command whose gateway serves dataset
    ``d1`` and runs the training worker."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def serve() -> None:
        worker = make_training_worker(
            pools=default_pools(cpu_count=2, memory_gb=8), executors={"local"}
        )
        async with (
            embedded_log(tmp_path) as bus,
            open_store(f"sqlite:///{tmp_path / 'read.sqlite3'}") as store,
            FolderBlobStore(tmp_path / "blobs") as blobs,
        ):
            await publish(bus, builders.dataset_registered("d1"))
            queued = builders.training_queued("done", datasets=["d1"])
            await publish(bus, queued, builders.training_completed("done", caused_by=queued))
            async with running(bus, [worker]):
                await run_gateway(
                    bus=bus, store=store, blobs=blobs, codec=default_codec(), stop=stop, sock=sock
                )

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{url}/healthz", timeout=1).json()["followingOutcomes"]:
                    break
            except httpx.TransportError:
                pass
            threading.Event().wait(0.05)
        yield {"COVENANT_GATEWAY": url, "COVENANT_HOME": str(tmp_path / "home"), "USER": "alice"}
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        sock.close()


def covenant(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.output


SUBMIT = (
    "train",
    "submit",
    "--dataset",
    "d1",
    "--family",
    "digits",
    "--team",
    "vision",
    "--entrypoint",
    "digits.train:train",
    "--hp",
    "C=0.5",
    "--hp",
    "solver=lbfgs",
    "--seed",
    "7",
)


def test_submit_status_and_cancel(gateway: dict[str, str]) -> None:
    code, output = covenant(
        gateway, *SUBMIT, "--code-ref", f"git.example/d.git#{COMMIT}", "--cpus", "1", "--json"
    )
    assert code == 0, output
    created = json.loads(output)
    assert created["status"] == "queued"
    assert created["job"]["hyperparams"] == {"C": "0.5", "solver": '"lbfgs"'}
    assert created["job"]["createdBy"] == "alice"
    job_id = created["jobId"]

    code, output = covenant(gateway, "train", "status", job_id, "--json")
    assert code == 0, output
    status = json.loads(output)
    assert status["status"] == "queued"
    assert status["job"]["seed"] == 7

    code, output = covenant(gateway, "train", "status", job_id)
    assert code == 0, output
    assert "queued" in output
    assert "vision" in output

    code, output = covenant(gateway, "train", "cancel", job_id, "--reason", "wrong data")
    assert code == 0, output
    assert f"cancelled {job_id}" in output
    code, output = covenant(gateway, "train", "cancel", job_id)
    assert code == 1
    assert "already ended" in output


def test_rerun_submits_the_recorded_inputs_again(gateway: dict[str, str]) -> None:
    code, output = covenant(gateway, "train", "rerun", "done", "--no-follow", "--json")
    assert code == 0, output
    rerun = json.loads(output)
    assert rerun["status"] == "queued"
    assert rerun["job"]["reproduces"] == "done"
    code, output = covenant(gateway, "train", "rerun", "done", "--no-verify", "--no-follow")
    assert code == 0, output
    assert "submitted; see: covenant train status job-" in " ".join(output.split())
    code, output = covenant(gateway, "train", "rerun", "nope")
    assert code == 1
    assert "no training job 'nope'" in output


def test_refusals_and_unknown_jobs_say_what_to_do(gateway: dict[str, str]) -> None:
    code, output = covenant(gateway, *SUBMIT, "--code-ref", "git.example/d.git#main")
    assert code == 1
    assert "git rev-parse main" in output
    code, output = covenant(gateway, *SUBMIT, "--code-ref", "no-commit")
    assert code == 2
    assert "REPO#COMMIT" in output
    code, output = covenant(gateway, "train", "status", "nope")
    assert code == 1
    assert "no training job 'nope'" in output
    code, output = covenant(gateway, "train", "logs", "nope")
    assert code == 1


def test_trace_prints_a_flow_in_the_order_it_happened(tmp_path: Path) -> None:
    clock = ManualClock()
    submit = builders.submit_training("j1", clock=clock)
    clock.advance(0.5)
    queued = builders.training_queued("j1", caused_by=submit, clock=clock)
    clock.advance(1)
    allocated = builders.training_allocated("j1", caused_by=queued, clock=clock)
    clock.advance(1)
    checkpoint = builders.training_checkpointed("j1", step=100, caused_by=queued, clock=clock)
    clock.advance(2)
    charge = builders.chargeback_recorded("j1", cost_cents=123, caused_by=queued, clock=clock)
    clock.advance(1)
    model = builders.model_registered("digits:1.0.0", caused_by=queued, clock=clock)
    other = builders.submit_training("j2", clock=clock)  # another flow

    async def fill() -> None:
        async with embedded_log(tmp_path) as bus:
            # Written out of order: the trace orders by time, not by topic.
            await publish(bus, model, charge, checkpoint, other, allocated, queued, submit)

    asyncio.run(fill())
    env = {"COVENANT_HOME": str(tmp_path / "home"), "COVENANT_BUS": ""}
    bus = f"sqlite:///{tmp_path / 'log.sqlite3'}"
    code, output = covenant(env, "trace", "j1", "--bus", bus, "--json")
    assert code == 0, output
    document = json.loads(output)
    assert document["correlationId"] == submit.meta.event_id
    records = document["records"]
    assert [r["type"] for r in records] == [
        "train.submit",
        "train.queued",
        "train.allocated",
        "train.checkpointed",
        "finance.chargeback",
        "model.registered",
    ]
    assert [r["offsetS"] for r in records] == [0, 0.5, 1.5, 2.5, 4.5, 5.5]
    summaries = [r["summary"] for r in records]
    assert "cpu-local" in summaries[2]
    assert summaries[3].startswith("step 100")
    assert summaries[4].startswith("1.23 USD")
    assert "digits:1.0.0" in summaries[5]
    assert records[0]["record"]["jobId"] == "j1"

    code, by_correlation = covenant(env, "trace", submit.meta.event_id, "--bus", bus, "--json")
    assert json.loads(by_correlation) == document
    code, table = covenant(env, "trace", "j1", "--bus", bus)
    assert code == 0, table
    assert "train.checkpointed" in table
    assert "+5.500s" in table
    code, output = covenant(env, "trace", "nothing-like-it", "--bus", bus)
    assert code == 1
    assert "no record on the log" in output
    assert timedelta(seconds=5.5) == model.meta.occurred_at - submit.meta.occurred_at
