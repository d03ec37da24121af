"""Evaluation through the gateway: ``POST /eval/run?wait`` answers with the figures,
``GET /eval/{id}`` reads them back, and ``GET /models/{id}`` shows the model's
latest evaluation, on the embedded log with the read store's projection running."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import httpx

from covenant.blobs import FolderBlobStore
from covenant.evaluation.runners import OnnxRunner
from covenant.evaluation.worker import make_evaluation_worker
from covenant.events.contract import default_codec
from covenant.events.registry import ModelRegistered
from covenant.gateway import create_app
from covenant.platform import Resources, build_workers
from covenant.runtime.service import run_workers
from covenant.store import open_store
from covenant.store.projector import run_projection
from covenant.testing import builders, embedded_log, publish, wait_for
from eval_models import digits_test_set_bytes, fitted, onnx_bytes


async def _model_visible(client: httpx.AsyncClient, model_id: str) -> None:
    for _ in range(300):
        if (await client.get(f"/models/{model_id}")).status_code == 200:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{model_id} never appeared in the read store")


async def test_run_wait_show_and_the_model_page(tmp_path: Path) -> None:
    codec = default_codec()
    async with (
        embedded_log(tmp_path) as bus,
        open_store(f"sqlite:///{tmp_path / 'read.sqlite3'}") as store,
        FolderBlobStore(tmp_path / "blobs") as blobs,
    ):
        data = await blobs.put(source=io.BytesIO(digits_test_set_bytes()), media_type="text/csv")
        onnx = await blobs.put(
            source=io.BytesIO(onnx_bytes(fitted(), zipmap=False)), media_type="application/onnx"
        )
        await publish(
            bus,
            builders.artifact_stored("weights", artifact_id=onnx.artifact_id),
            builders.dataset_registered("digits-test:v1", checksum=data.artifact_id),
            builders.model_registered("digits:2.0.0", artifact_id=onnx.artifact_id),
        )
        await wait_for(bus, ModelRegistered)
        workers = [
            make_evaluation_worker(blobs=blobs, runners=(OnnxRunner(),)),
            *build_workers(["artifacts"], resources=Resources(blobs=blobs)),
        ]
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(run_workers(workers, bus=bus, codec=codec, stop=stop)),
            asyncio.create_task(run_projection(bus=bus, store=store, codec=codec, stop=stop)),
        ]
        app = create_app(bus=bus, store=store, blobs=blobs, codec=codec)
        transport = httpx.ASGITransport(app=app)
        try:
            async with (
                app.router.lifespan_context(app),
                httpx.AsyncClient(transport=transport, base_url="http://gw.test") as client,
            ):
                await _model_visible(client, "digits:2.0.0")
                before = (await client.get("/models/digits:2.0.0")).json()
                assert before["evaluation"] is None
                body = {
                    "evalId": "eval-gw",
                    "modelId": "digits:2.0.0",
                    "testSetRefs": ["digits-test:v1"],
                    "metrics": {"sensitiveAttribute": "group"},
                }
                answer = await client.post("/eval/run?wait=60", json=body)
                assert answer.status_code == 201, answer.text
                doc = answer.json()
                assert (doc["evalId"], doc["status"], doc["gateFamily"]) == (
                    "eval-gw",
                    "completed",
                    "digits",
                )
                assert doc["task"]["accuracy"] > 0.9
                shown = (await client.get("/eval/eval-gw")).json()
                assert shown == doc
                page = (await client.get("/models/digits:2.0.0")).json()
                assert page["evaluation"] == doc
                assert page["evaluation"]["reportArtifactId"].startswith("sha256:")

                missing = await client.post(
                    "/eval/run?wait=60", json={**body, "evalId": "e2", "modelId": "no:1.0.0"}
                )
                assert missing.status_code == 404, missing.text
                assert (await client.get("/eval/nothing")).status_code == 404
        finally:
            stop.set()
            await asyncio.gather(*tasks)
