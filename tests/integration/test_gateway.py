"""The HTTP gateway against real parts: the log, a SQLite read store, a folder blob
store, and the real workers and projector running in the same event loop.

Most tests talk to the app in-process (httpx's ASGI transport); one goes through a
real uvicorn server on a loopback port, and one runs the happy path on each log
(the embedded one and Kafka).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from covenant.blobs import FolderBlobStore
from covenant.bus import Bus, Outgoing, open_bus
from covenant.catalog import decisions as catalog_decisions
from covenant.catalog.state import CatalogState
from covenant.client import GatewayClient, GatewayError
from covenant.events.contract import default_codec
from covenant.events.datasets import RegisterDataset
from covenant.events.deadletter import DeadLettered
from covenant.events.refusals import Refusal
from covenant.events.registry import RegisterModel
from covenant.gateway import GatewayConfig, create_app, run_gateway
from covenant.gateway.commands import RegisterDatasetBody, RegisterModelBody
from covenant.gateway.outcomes import Outcomes
from covenant.gateway.verdicts import judge
from covenant.platform import Resources, build_workers
from covenant.runtime.service import run_workers, wait_until_drained
from covenant.runtime.worker import Worker
from covenant.store import ReadStore, open_store
from covenant.store.projector import run_projection
from covenant.testing import builders
from covenant.topics import ALL_TOPICS, DEADLETTER

UPLOAD_LIMIT = 256 * 1024
WAIT = {"wait": 30}
PROBLEM = "application/problem+json"


@dataclass
class Parts:
    bus: Bus
    store: ReadStore
    blobs: FolderBlobStore
    blob_root: Path
    workers: list[Worker]

    async def settle(self) -> None:
        """Wait until every worker has consumed everything on the log.

        A 201 says the deciding worker wrote its event; another worker that reads
        that event (the registry reads ``artifact.stored``) may not have yet, and it
        reads its topics in no particular order. So a step that depends on another
        worker's earlier decision waits for the workers first, as a client would
        retry.
        """
        assert await wait_until_drained(self.bus, self.workers, timeout_s=30)


@dataclass
class Gateway:
    client: httpx.AsyncClient
    parts: Parts
    transport: httpx.ASGITransport


@contextlib.asynccontextmanager
async def platform(bus_url: str, tmp_path: Path) -> AsyncIterator[Parts]:
    """Log, stores, and the workers and projector running until the block ends."""
    codec = default_codec()
    root = tmp_path / "blobs"
    async with (
        open_bus(bus_url) as bus,
        open_store(f"sqlite:///{tmp_path / 'read.sqlite3'}") as store,
        FolderBlobStore(root) as blobs,
    ):
        stop = asyncio.Event()
        workers = build_workers(
            ["datasets", "registry", "artifacts"], resources=Resources(blobs=blobs)
        )
        tasks = [
            asyncio.create_task(run_workers(workers, bus=bus, codec=codec, stop=stop)),
            asyncio.create_task(run_projection(bus=bus, store=store, codec=codec, stop=stop)),
        ]
        try:
            yield Parts(bus, store, blobs, root, workers)
        finally:
            stop.set()
            await asyncio.gather(*tasks)


@contextlib.asynccontextmanager
async def in_process(bus_url: str, tmp_path: Path) -> AsyncIterator[Gateway]:
    async with platform(bus_url, tmp_path) as parts:
        app = create_app(
            bus=parts.bus,
            store=parts.store,
            blobs=parts.blobs,
            codec=default_codec(),
            config=GatewayConfig(max_upload_bytes=UPLOAD_LIMIT),
        )
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client,
        ):
            yield Gateway(client, parts, transport)


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    async with in_process(f"sqlite:///{tmp_path / 'log.sqlite3'}", tmp_path) as gateway:
        yield gateway


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stored_files(root: Path) -> set[str]:
    """Every file under the blob folder: blobs, media types and leftovers alike."""
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()
    return body


async def upload(
    client: httpx.AsyncClient,
    data: bytes,
    *,
    name: str = "models/weights.bin",
    headers: dict[str, str] | None = None,
    wait: bool = True,
) -> httpx.Response:
    return await client.post(
        "/artifact/upload",
        params={"name": name, **(WAIT if wait else {})},
        content=data,
        headers={"Content-Type": "application/octet-stream", **(headers or {})},
    )


async def artifact(gw: Gateway, data: bytes | None = None) -> str:
    """Upload and wait until every worker knows the artifact."""
    response = await upload(gw.client, data if data is not None else os.urandom(4096))
    assert response.status_code == 201, response.text
    await gw.parts.settle()
    artifact_id: str = response.json()["artifactId"]
    return artifact_id


async def register_dataset(
    client: httpx.AsyncClient, dataset_id: str, artifact_id: str, **fields: Any
) -> httpx.Response:
    body = {"datasetId": dataset_id, "artifactId": artifact_id, "license": "CC-BY-4.0"}
    return await client.post("/dataset/register", params=WAIT, json={**body, **fields})


async def register_model(
    client: httpx.AsyncClient, version: str, artifact_id: str, **fields: Any
) -> httpx.Response:
    body = {"family": "vit", "version": version, "codeRef": "git@x:vit.git#9d1e2b7"}
    return await client.post(
        "/models/register", params=WAIT, json={**body, "artifactId": artifact_id, **fields}
    )


async def eventually(client: httpx.AsyncClient, url: str, timeout_s: float = 10) -> httpx.Response:
    """GET ``url`` until it stops answering 404 (the read model catching up)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        response = await client.get(url)
        if response.status_code != 404 or asyncio.get_running_loop().time() > deadline:
            return response
        await asyncio.sleep(0.05)


async def test_upload_answers_the_checksum_of_the_bytes_and_serves_them(gw: Gateway) -> None:
    data = os.urandom(200_000)
    response = await upload(
        gw.client,
        data,
        headers={
            "Content-Type": "application/x-pytorch",
            "X-Checksum-Sha256": sha256(data).upper(),
            "X-Git-Commit": "9d1e2b7",
            "X-Run-Config": '{"lr": "0.1"}',
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["checksum"] == body["artifactId"] == f"sha256:{sha256(data)}"
    assert body["sizeBytes"] == len(data)
    assert response.headers["location"].endswith(f"/artifact/{body['artifactId']}")

    meta = await eventually(gw.client, f"/artifact/{body['artifactId']}")
    assert meta.status_code == 200
    assert meta.json()["mediaType"] == "application/x-pytorch"
    assert meta.json()["runConfig"] == {"lr": "0.1"}
    assert meta.json()["gitCommit"] == "9d1e2b7"

    content = await gw.client.get(f"/artifact/{body['artifactId']}/content")
    assert content.status_code == 200
    assert content.content == data
    assert content.headers["content-type"] == "application/x-pytorch"
    etag = content.headers["etag"]
    cached = await gw.client.get(
        f"/artifact/{body['artifactId']}/content", headers={"If-None-Match": etag}
    )
    assert cached.status_code == 304


async def test_a_wrong_checksum_is_422_and_stores_nothing(gw: Gateway) -> None:
    await artifact(gw)  # something is stored already; it must stay all there is
    before = stored_files(gw.parts.blob_root)
    data = os.urandom(50_000)
    response = await upload(gw.client, data, headers={"X-Checksum-Sha256": sha256(b"other")})
    body = problem(response, 422)
    assert body["type"].endswith(":checksum-mismatch")
    assert body["actual"] == sha256(data)
    assert stored_files(gw.parts.blob_root) == before
    assert not await gw.parts.blobs.exists(f"sha256:{sha256(data)}")


async def test_a_body_over_the_limit_is_413_and_stores_nothing(gw: Gateway) -> None:
    await artifact(gw)
    before = stored_files(gw.parts.blob_root)
    data = os.urandom(UPLOAD_LIMIT + 1)
    declared = await upload(gw.client, data)  # Content-Length says so: refused up front
    assert problem(declared, 413)["limit"] == UPLOAD_LIMIT

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
        for start in range(0, len(data), 16 * 1024):
            yield data[start : start + 16 * 1024]

    streamed = await gw.client.post(
        "/artifact/upload", params={"name": "big.bin", **WAIT}, content=chunked()
    )
    problem(streamed, 413)
    assert stored_files(gw.parts.blob_root) == before


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "models/\x1b[2Jevil.pt"])
async def test_unsafe_names_are_400_before_the_body_is_read(gw: Gateway, name: str) -> None:
    read = []

    async def body() -> AsyncIterator[bytes]:
        read.append(True)
        yield b"bytes"

    response = await gw.client.post("/artifact/upload", params={"name": name}, content=body())
    assert problem(response, 400)["type"].endswith(":unsafe-name")
    assert read == []


async def test_a_dataset_with_pii_is_registered_blocked(gw: Gateway) -> None:
    artifact_id = await artifact(gw)
    response = await register_dataset(
        gw.client, "chats:v1", artifact_id, piiFlags=["email"], provenanceReview="passed"
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["clearance"] == "blocked"
    assert any("PII" in reason for reason in body["blockReasons"])
    assert body["lineage"]["checksum"] == artifact_id
    view = await eventually(gw.client, response.headers["location"])
    assert view.json()["clearance"] == "blocked"


async def test_a_duplicate_dataset_is_409(gw: Gateway) -> None:
    artifact_id = await artifact(gw)
    assert (await register_dataset(gw.client, "images:v1", artifact_id)).status_code == 201
    body = problem(await register_dataset(gw.client, "images:v1", artifact_id), 409)
    assert any("already registered" in reason for reason in body["reasons"])


async def test_a_model_with_lineage_is_201_and_shows_its_upstream(gw: Gateway) -> None:
    data_id = await artifact(gw, b"x1,x2,label\n0.1,0.2,1\n")
    weights_id = await artifact(gw)
    registered = await register_dataset(gw.client, "images:v1", data_id, provenanceReview="passed")
    assert registered.json()["clearance"] == "allowed"
    await gw.parts.settle()
    response = await register_model(
        gw.client, "1.0.0", weights_id, lineage={"datasetRefs": ["images:v1"]}
    )
    assert response.status_code == 201, response.text
    assert response.json()["entry"]["status"] == "draft"

    model = await eventually(gw.client, "/models/vit:1.0.0")
    assert model.status_code == 200
    assert model.json()["status"] == "draft"
    lineage = model.json()["lineage"]
    assert [d["datasetId"] for d in lineage["datasets"]] == ["images:v1"]
    assert {a["artifactId"] for a in lineage["artifacts"]} == {data_id, weights_id}
    listed = (await gw.client.get("/models", params={"family": "vit"})).json()["models"]
    assert [m["modelId"] for m in listed] == ["vit:1.0.0"]
    downstream = await gw.client.get("/lineage/datasets/images:v1/downstream")
    assert [m["modelId"] for m in downstream.json()["models"]] == ["vit:1.0.0"]


async def test_an_invalid_semver_is_422_naming_the_reason(gw: Gateway) -> None:
    body = problem(await register_model(gw.client, "v2", await artifact(gw)), 422)
    assert any("SemVer" in reason for reason in body["reasons"])


async def test_a_duplicate_version_is_409(gw: Gateway) -> None:
    weights_id = await artifact(gw)
    assert (await register_model(gw.client, "1.0.0", weights_id)).status_code == 201
    body = problem(await register_model(gw.client, "1.0.0", weights_id), 409)
    assert body["type"].endswith(":conflict")


async def test_the_status_comes_from_the_refusal_code_not_its_wording(
    gw: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The registry rewords every refusal; the gateway must answer exactly as before.
    real = catalog_decisions.model_refusals

    def reworded(command: RegisterModel, state: CatalogState) -> list[Refusal]:
        return [r.model_copy(update={"message": "nope"}) for r in real(command, state)]

    monkeypatch.setattr(catalog_decisions, "model_refusals", reworded)
    weights_id = await artifact(gw)
    assert (await register_model(gw.client, "1.0.0", weights_id)).status_code == 201
    duplicate = problem(await register_model(gw.client, "1.0.0", weights_id), 409)
    assert duplicate["reasons"] == ["nope"]
    assert duplicate["refusals"] == [{"code": "conflict", "message": "nope", "field": "version"}]
    invalid = problem(await register_model(gw.client, "v2", weights_id), 422)
    assert [r["code"] for r in invalid["refusals"]] == ["invalid"]
    assert invalid["refusals"][0]["field"] == "version"


async def test_the_python_client_runs_against_an_in_process_gateway(gw: Gateway) -> None:
    weights_id = await artifact(gw)
    async with GatewayClient(
        "http://gateway.test", actor="carol", transport=gw.transport
    ) as client:
        body = {"family": "vit", "version": "1.0.0", "codeRef": "git@x:vit.git#9d1e2b7"}
        created = await client.post(
            "/models/register", {**body, "artifactId": weights_id}, wait_s=10
        )
        assert created["status_code"] == 201
        assert created["entry"]["createdBy"] == "carol"
        with pytest.raises(GatewayError) as refused:
            await client.post("/models/register", {**body, "artifactId": weights_id}, wait_s=10)
    assert refused.value.status == 409
    assert [r["code"] for r in refused.value.refusals] == ["conflict"]


async def test_lineage_naming_an_unknown_dataset_is_422(gw: Gateway) -> None:
    response = await register_model(
        gw.client, "1.0.0", await artifact(gw), lineage={"datasetRefs": ["nope:v1"]}
    )
    assert any("unknown dataset 'nope:v1'" in r for r in problem(response, 422)["reasons"])


async def test_malformed_json_is_400(gw: Gateway) -> None:
    response = await gw.client.post(
        "/models/register", content=b'{"family": ', headers={"Content-Type": "application/json"}
    )
    assert problem(response, 400)["type"].endswith(":malformed-json")


async def test_a_wrong_field_type_is_422_naming_the_field(gw: Gateway) -> None:
    response = await gw.client.post(
        "/models/register",
        json={"family": "vit", "version": 1, "codeRef": "x", "artifactId": "sha256:00"},
    )
    body = problem(response, 422)
    assert body["errors"][0] == {
        "in": "body",
        "field": "version",
        "pointer": "#/version",
        "detail": "Input should be a valid string",
    }
    assert "'version'" in body["detail"]
    nested = await gw.client.post(
        "/dataset/register",
        json={"datasetId": "d", "artifactId": "a", "license": "x", "transformations": [{}]},
    )
    fields = {e["field"] for e in problem(nested, 422)["errors"]}
    assert fields == {
        "transformations.0.name",
        "transformations.0.codeRef",
        "transformations.0.checksum",
    }


async def test_an_unknown_model_is_404(gw: Gateway) -> None:
    assert "vit:9.9.9" in problem(await gw.client.get("/models/vit:9.9.9"), 404)["detail"]
    problem(await gw.client.get("/datasets/nope:v1"), 404)
    problem(await gw.client.get(f"/artifact/sha256:{'0' * 64}"), 404)


async def test_json_bodies_over_their_limit_are_413(gw: Gateway) -> None:
    big = {"datasetId": "x" * (2 * 1024 * 1024)}
    problem(await gw.client.post("/dataset/register", json=big), 413)

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
        for _ in range(40):
            yield b" " * 64 * 1024

    response = await gw.client.post(
        "/dataset/register", content=chunked(), headers={"Content-Type": "application/json"}
    )
    problem(response, 413)


async def test_without_wait_the_answer_is_202_with_a_status_link(gw: Gateway) -> None:
    artifact_id = await artifact(gw)
    body = {"datasetId": "images:v1", "artifactId": artifact_id, "license": "CC-BY-4.0"}
    response = await gw.client.post("/dataset/register", json=body)
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] == "accepted"
    assert accepted["commandId"]
    assert response.headers["location"] == accepted["statusUrl"]
    assert accepted["resourceUrl"].endswith("/datasets/images:v1")
    for _ in range(200):
        status = (await gw.client.get(accepted["statusUrl"])).json()
        if status["status"] != "pending":
            break
        await asyncio.sleep(0.05)
    assert status["status"] == "succeeded"
    assert status["result"]["datasetId"] == "images:v1"
    problem(await gw.client.get("/commands/never-published"), 404)


async def test_the_openapi_document_lists_every_route(gw: Gateway) -> None:
    document = (await gw.client.get("/openapi.json")).json()
    operations = {
        (method.upper(), path) for path, ops in document["paths"].items() for method in ops
    }
    assert operations == {
        ("POST", "/artifact/upload"),
        ("GET", "/artifact/{artifact_id}"),
        ("GET", "/artifact/{artifact_id}/content"),
        ("POST", "/dataset/register"),
        ("GET", "/datasets/{dataset_id}"),
        ("GET", "/lineage/datasets/{dataset_id}/downstream"),
        ("POST", "/models/register"),
        ("GET", "/models/{model_id}"),
        ("GET", "/models"),
        ("GET", "/commands/{command_id}"),
        ("POST", "/train/jobs"),
        ("GET", "/train/jobs/{job_id}"),
        ("POST", "/train/jobs/{job_id}/cancel"),
        ("POST", "/train/jobs/{job_id}/rerun"),
        ("GET", "/train/jobs/{job_id}/logs"),
        ("POST", "/eval/run"),
        ("GET", "/eval/{eval_id}"),
        ("POST", "/models/{model_id}/promote"),
        ("GET", "/promotions/{promotion_id}"),
        ("POST", "/promotions/{promotion_id}/approve"),
        ("POST", "/models/{model_id}/sign"),
        ("POST", "/models/{model_id}/demote"),
        ("POST", "/models/{model_id}/deprecate"),
        ("POST", "/serve/deploy"),
        ("GET", "/serve/{deploy_id}"),
        ("GET", "/serve/{deploy_id}/explain"),
        ("POST", "/serve/{deploy_id}/scale"),
        ("POST", "/serve/{deploy_id}/rollback"),
        ("GET", "/drift/{model_id}"),
        ("POST", "/drift/alert"),
        ("POST", "/drift/labels"),
        ("GET", "/drift/proposals/{proposal_id}"),
        ("POST", "/drift/proposals/{proposal_id}/approve"),
        ("GET", "/drift/quarantines/{quarantine_id}"),
        ("POST", "/drift/quarantines/{quarantine_id}/signoff"),
        ("GET", "/healthz"),
    }
    assert all(op.get("summary") for ops in document["paths"].values() for op in ops.values())
    register = document["paths"]["/models/register"]["post"]
    assert PROBLEM in register["responses"]["409"]["content"]
    text = json.dumps(document)
    refs = set(re.findall(r"#/components/schemas/(\w+)", text))
    assert refs <= document["components"]["schemas"].keys()
    assert "HTTPValidationError" not in text  # FastAPI's 422 shape is not what we send
    assert (await gw.client.get("/docs")).status_code == 200


@pytest.mark.parametrize(
    ("body", "command"),
    [(RegisterDatasetBody, RegisterDataset), (RegisterModelBody, RegisterModel)],
)
def test_command_bodies_are_the_commands_without_metadata(
    body: type[RegisterDatasetBody | RegisterModelBody], command: type[Any]
) -> None:
    fields = {n: f for n, f in command.model_fields.items() if n != "meta"}
    assert body.model_fields.keys() == fields.keys()
    for name, field in body.model_fields.items():
        assert field.alias == fields[name].alias
        assert field.is_required() == fields[name].is_required()
        if name != "signature":  # base64 text over HTTP, bytes on the log
            assert field.annotation == fields[name].annotation


@contextlib.contextmanager
def loopback_socket() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    with sock:
        yield sock


async def test_through_uvicorn_on_loopback(tmp_path: Path) -> None:
    async with platform(f"sqlite:///{tmp_path / 'log.sqlite3'}", tmp_path) as parts:
        with loopback_socket() as sock:
            port = sock.getsockname()[1]
            stop = asyncio.Event()
            server = asyncio.create_task(
                run_gateway(
                    bus=parts.bus,
                    store=parts.store,
                    blobs=parts.blobs,
                    codec=default_codec(),
                    stop=stop,
                    sock=sock,
                )
            )
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                for _ in range(100):
                    with contextlib.suppress(httpx.TransportError):
                        if (await client.get("/healthz")).json()["followingOutcomes"]:
                            break
                    await asyncio.sleep(0.05)
                data = os.urandom(300_000)
                response = await upload(client, data)
                assert response.status_code == 201, response.text
                assert response.json()["checksum"] == f"sha256:{sha256(data)}"
                problem(await client.get("/models/vit:1.0.0"), 404)
            stop.set()
            await asyncio.wait_for(server, 30)


async def test_the_happy_path_on_each_log(bus_url: str, tmp_path: Path) -> None:
    async with in_process(bus_url, tmp_path) as gateway:
        client = gateway.client
        data_id = await artifact(gateway)
        registered = await register_dataset(client, "images:v1", data_id, provenanceReview="passed")
        assert registered.status_code == 201, registered.text
        await gateway.parts.settle()
        model = await register_model(
            client, "1.0.0", await artifact(gateway), lineage={"datasetRefs": ["images:v1"]}
        )
        assert model.status_code == 201, model.text
        view = await eventually(client, "/models/vit:1.0.0", timeout_s=30)
        assert view.json()["lineage"]["datasets"][0]["datasetId"] == "images:v1"


async def test_a_dead_lettered_command_ends_its_wait_with_500(tmp_path: Path) -> None:
    codec = default_codec()
    command = builders.register_model("vit:1.0.0", actor="alice")
    letter = builders.dead_lettered(
        command, worker="registry", error="the store went away", attempts=5, codec=codec
    )
    async with open_bus(f"sqlite:///{tmp_path / 'log.sqlite3'}") as bus:
        await bus.ensure_topics(ALL_TOPICS)
        outcomes = Outcomes(bus=bus, codec=codec, max_waiters=10, remember=10)
        await outcomes.start()
        try:
            with outcomes.expect(command.meta.event_id) as waiter:
                assert waiter is not None
                await bus.publish([Outgoing(DEADLETTER, b"k", codec.encode(letter))])
                outcome = await outcomes.wait(waiter, 10)
        finally:
            await outcomes.stop()
    assert isinstance(outcome, DeadLettered)
    verdict = judge(outcome, command.meta.event_id)
    assert verdict.status == "failed"
    assert verdict.problem is not None
    assert verdict.problem.status_code == 500
    assert "the store went away" in str(verdict.problem.detail)
    assert outcomes.outcome(command.meta.event_id) is outcome
