"""Training jobs through the gateway, against the real training worker on the
embedded log: the worker decides, the gateway only translates.

No policy worker runs, so a queued job stays queued (waiting for its pre-train
decision); a completed job is written onto the log as the worker would write it,
to read, rerun and fetch the log of without running an executor.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from covenant.blobs import FolderBlobStore
from covenant.bus import Bus
from covenant.client import GatewayClient, GatewayError
from covenant.events.contract import default_codec
from covenant.events.runs import ComputeConfig, RunEnvironment, RunRecord
from covenant.events.training import (
    SubmitTraining,
    TrainingArtifact,
    TrainingCancelled,
    TrainingCompleted,
    TrainingQueued,
)
from covenant.gateway import create_app
from covenant.gateway.training import SubmitTrainingBody
from covenant.store import open_store
from covenant.testing import builders, collect, embedded_log, publish, running, wait_for
from covenant.topics import TRAIN_COMMANDS
from covenant.training.pools import default_pools
from covenant.training.worker import make_training_worker

COMMIT = "0123456789abcdef0123456789abcdef01234567"
WAIT = {"wait": 30}
PROBLEM = "application/problem+json"


@dataclass
class Platform:
    client: httpx.AsyncClient
    bus: Bus
    blobs: FolderBlobStore
    transport: httpx.ASGITransport


@contextlib.asynccontextmanager
async def training_platform(tmp_path: Path) -> AsyncIterator[Platform]:
    """The embedded log with dataset ``d1`` registered, the training worker
    running, and the gateway in-process."""
    worker = make_training_worker(
        pools=default_pools(cpu_count=2, memory_gb=8), executors={"local"}
    )
    async with (
        embedded_log(tmp_path) as bus,
        open_store(f"sqlite:///{tmp_path / 'read.sqlite3'}") as store,
        FolderBlobStore(tmp_path / "blobs") as blobs,
    ):
        await publish(bus, builders.dataset_registered("d1"))
        app = create_app(bus=bus, store=store, blobs=blobs, codec=default_codec())
        transport = httpx.ASGITransport(app=app)
        async with (
            running(bus, [worker]),
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client,
        ):
            yield Platform(client, bus, blobs, transport)


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[Platform]:
    async with training_platform(tmp_path) as platform:
        yield platform


def job(**overrides: Any) -> dict[str, Any]:
    return {
        "modelFamily": "digits",
        "team": "vision",
        "datasetRefs": ["d1"],
        "codeRef": f"https://git.example/digits.git#{COMMIT}",
        "entrypoint": "digits.train:train",
        "hyperparams": {"C": "0.5", "solver": '"lbfgs"'},
        "seed": 7,
        **overrides,
    }


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    document: dict[str, Any] = response.json()
    return document


async def submitted(gw: Platform, **overrides: Any) -> dict[str, Any]:
    response = await gw.client.post("/train/jobs", json=job(**overrides), params=WAIT)
    assert response.status_code == 201, response.text
    document: dict[str, Any] = response.json()
    return document


async def test_a_waited_submit_is_201_with_the_queued_job_and_reads_back(gw: Platform) -> None:
    created = await submitted(gw, jobId="j1")
    assert created["status"] == "queued"
    assert created["jobId"] == "j1"
    assert created["job"]["codeCommit"] == COMMIT
    assert created["job"]["datasetChecksums"]["d1"].startswith("sha256:")
    assert created["commandId"]
    read = await gw.client.get("/train/jobs/j1")  # the read barrier: no waiting
    assert read.status_code == 200, read.text
    document = read.json()
    assert document["status"] == "queued"
    assert document["job"]["seed"] == 7
    assert document["job"]["createdBy"] == "anonymous"
    assert [step["type"] for step in document["history"]] == ["train.queued"]
    assert document["attempts"] == []
    assert document["allocation"] is None


async def test_without_wait_the_gateway_names_the_job_and_answers_202(gw: Platform) -> None:
    response = await gw.client.post("/train/jobs", json=job())
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["jobId"].startswith("job-")
    assert accepted["commandId"]
    assert response.headers["location"] == accepted["statusUrl"]
    assert accepted["jobUrl"].endswith(f"/train/jobs/{accepted['jobId']}")
    queued = await wait_for(gw.bus, TrainingQueued, lambda e: e.job.job_id == accepted["jobId"])
    assert queued.meta.causation_id == accepted["commandId"]


async def test_a_retry_with_the_same_key_names_the_same_job(gw: Platform) -> None:
    headers = {"Idempotency-Key": "try-1", "X-Covenant-Actor": "alice"}
    first = await gw.client.post("/train/jobs", json=job(), params=WAIT, headers=headers)
    assert first.status_code == 201, first.text
    again = await gw.client.post("/train/jobs", json=job(), params={"wait": 1}, headers=headers)
    assert again.status_code == 202, again.text  # a retry has no new outcome
    assert again.json()["jobId"] == first.json()["jobId"]


async def test_a_branch_instead_of_a_commit_is_422_naming_code_ref(gw: Platform) -> None:
    response = await gw.client.post(
        "/train/jobs", json=job(codeRef="https://git.example/digits.git#main"), params=WAIT
    )
    document = problem(response, 422)
    assert [r["field"] for r in document["refusals"]] == ["codeRef"]
    assert "git rev-parse main" in document["detail"]


async def test_an_unknown_dataset_is_422(gw: Platform) -> None:
    document = problem(
        await gw.client.post("/train/jobs", json=job(datasetRefs=["nope"]), params=WAIT), 422
    )
    assert document["refusals"][0]["field"] == "datasetRefs.0"
    assert "not registered" in document["detail"]


async def test_a_job_id_in_use_is_409(gw: Platform) -> None:
    await submitted(gw, jobId="j1")
    document = problem(await gw.client.post("/train/jobs", json=job(jobId="j1"), params=WAIT), 409)
    assert document["refusals"][0]["code"] == "conflict"


async def test_a_malformed_body_is_422_from_the_gateway(gw: Platform) -> None:
    document = problem(await gw.client.post("/train/jobs", json=job(seed="seven")), 422)
    assert document["errors"][0]["field"] == "seed"


async def test_cancel_ends_the_job_and_a_second_cancel_is_409(gw: Platform) -> None:
    await submitted(gw, jobId="j1")
    cancelled = await gw.client.post(
        "/train/jobs/j1/cancel", json={"reason": "wrong data"}, params=WAIT
    )
    assert cancelled.status_code == 201, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    read = (await gw.client.get("/train/jobs/j1")).json()
    assert read["status"] == "cancelled"
    assert read["reason"] == "wrong data"
    assert read["endTs"]
    again = problem(await gw.client.post("/train/jobs/j1/cancel", params=WAIT), 409)
    assert "already ended" in again["detail"]
    queued = await wait_for(gw.bus, TrainingQueued, lambda e: e.job.job_id == "j1")
    cancel = await wait_for(gw.bus, TrainingCancelled, lambda e: e.job_id == "j1")
    assert cancel.meta.correlation_id == queued.meta.correlation_id  # one flow to trace


async def test_an_unknown_job_is_404_everywhere(gw: Platform) -> None:
    problem(await gw.client.get("/train/jobs/nope"), 404)
    problem(await gw.client.post("/train/jobs/nope/cancel"), 404)
    problem(await gw.client.post("/train/jobs/nope/rerun"), 404)
    problem(await gw.client.get("/train/jobs/nope/logs"), 404)


async def test_a_job_refused_at_submit_reads_as_rejected(gw: Platform) -> None:
    await gw.client.post("/train/jobs", json=job(jobId="bad", datasetRefs=["nope"]), params=WAIT)
    document = (await gw.client.get("/train/jobs/bad")).json()
    assert document["status"] == "rejected"
    assert document["job"] is None
    assert document["refusals"][0]["field"] == "datasetRefs.0"
    problem(await gw.client.post("/train/jobs/bad/cancel"), 409)


async def test_only_a_completed_job_is_rerun(gw: Platform) -> None:
    await submitted(gw, jobId="j1")
    document = problem(await gw.client.post("/train/jobs/j1/rerun", params=WAIT), 409)
    assert "only a completed job" in document["detail"]
    problem(await gw.client.get("/train/jobs/j1/logs"), 404)  # no run, no log


def _record() -> RunRecord:
    return RunRecord(
        code_repo="https://git.example/digits.git",
        code_commit=COMMIT,
        entrypoint="digits.train:train",
        environment=RunEnvironment(
            python="3.11.2", platform="Linux-x86_64", dependencies_sha256="0" * 64
        ),
        seed=7,
        compute=ComputeConfig(executor="local"),
        hardware_class="cpu-local",
    )


async def completed(gw: Platform, job_id: str, logs: bytes) -> TrainingCompleted:
    """Submit ``job_id`` and write its completion, as the worker would."""
    await submitted(gw, jobId=job_id, target={"family": "digits", "version": "1.0.0"})
    stored = await gw.blobs.put(source=io.BytesIO(logs), media_type="text/plain")
    now = datetime.now(UTC)
    event: TrainingCompleted = TrainingCompleted.create(
        subject=job_id,
        actor="alice",
        producer="training",
        job_id=job_id,
        attempt=1,
        artifacts=[
            TrainingArtifact(path="model.onnx", artifact_id=builders.sha("m"), kind="model")
        ],
        metrics={"accuracy": 0.97},
        record=_record(),
        logs_ref=stored.artifact_id,
        started_at=now,
        ended_at=now,
    )
    await publish(gw.bus, event)
    return event


async def test_a_completed_job_shows_its_outputs_log_and_reruns_with_its_inputs(
    gw: Platform,
) -> None:
    await completed(gw, "j1", b"step 1\nstep 2\n")
    read = (await gw.client.get("/train/jobs/j1")).json()
    assert read["status"] == "completed"
    assert read["metrics"] == {"accuracy": 0.97}
    assert read["artifactRefs"][0]["path"] == "model.onnx"
    assert read["record"]["hardwareClass"] == "cpu-local"
    logs = await gw.client.get("/train/jobs/j1/logs")
    assert logs.status_code == 200
    assert logs.text == "step 1\nstep 2\n"
    assert logs.headers["content-type"].startswith("text/plain")

    rerun = await gw.client.post("/train/jobs/j1/rerun", params={"verify": "true", **WAIT})
    assert rerun.status_code == 201, rerun.text
    again = rerun.json()["job"]
    original = read["job"]
    assert again["jobId"] != "j1"
    assert again["reproduces"] == "j1"
    assert again["target"] is None
    same = ("codeRepo", "codeCommit", "entrypoint", "datasetRefs", "seed", "hyperparams")
    assert {k: again[k] for k in same} == {k: original[k] for k in same}
    assert again["compute"] == original["compute"]
    assert again["retryPolicy"] == original["retryPolicy"]
    assert (again["team"], again["modelFamily"]) == ("vision", "digits")

    plain = await gw.client.post("/train/jobs/j1/rerun", params={"verify": "false", **WAIT})
    assert plain.json()["job"]["reproduces"] is None


async def test_the_python_client_submits_reads_cancels_reruns_and_fetches_logs(
    gw: Platform,
) -> None:
    await completed(gw, "done", b"all good\n")
    async with GatewayClient("http://gateway.test", actor="carol", transport=gw.transport) as c:
        created = await c.submit_training(
            model_family="digits",
            team="vision",
            dataset_refs=["d1"],
            code_ref=f"git.example/d.git#{COMMIT}",
            entrypoint="digits.train:train",
            hyperparams={"C": "0.5"},
            compute={"cpus": 1, "memoryGb": 1},
            max_attempts=2,
            target="digits:2.0.0",
        )
        assert created["status_code"] == 201
        job_id = created["jobId"]
        read = await c.training_job(job_id)
        assert read["job"]["retryPolicy"] == {"maxAttempts": 2}
        assert read["job"]["target"] == {"family": "digits", "version": "2.0.0"}
        assert read["job"]["createdBy"] == "carol"
        cancelled = await c.cancel_training(job_id, "not needed")
        assert cancelled["status"] == "cancelled"
        with pytest.raises(GatewayError) as refused:
            await c.cancel_training(job_id)
        assert refused.value.status == 409
        rerun = await c.rerun_training("done", verify=True)
        assert rerun["job"]["reproduces"] == "done"
        assert await c.training_logs("done") == "all good\n"
        with pytest.raises(GatewayError) as missing:
            await c.training_logs(job_id)
        assert missing.value.status == 404


def test_the_submit_body_is_the_command_without_metadata() -> None:
    fields = {n: f for n, f in SubmitTraining.model_fields.items() if n != "meta"}
    assert SubmitTrainingBody.model_fields.keys() == fields.keys()
    for name, field in SubmitTrainingBody.model_fields.items():
        assert field.alias == fields[name].alias
        if name != "job_id":  # optional over HTTP: the gateway makes one
            assert field.is_required() == fields[name].is_required()
            assert field.annotation == fields[name].annotation


async def test_a_code_ref_with_credentials_is_refused_before_anything_is_published(
    gw: Platform,
) -> None:
    body = job(codeRef=f"https://bob:s3cret@git.example/digits.git#{COMMIT}")
    document = problem(await gw.client.post("/train/jobs", json=body, params=WAIT), 422)
    assert document["errors"][0]["field"] == "codeRef"
    assert "s3cret" not in json.dumps(document)
    commands = await collect(gw.bus, TRAIN_COMMANDS)
    assert not commands  # the log never saw the token
