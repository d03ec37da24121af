"""Serving through the gateway, on the embedded log with the real serving worker: a
refused deploy answered by its code, an accepted one read back, scale and rollback
published for the deployment's route, explain with the evidence, and 404s.

The agent (which runs replicas) is not started: its observations are what the test
publishes, as the agent would, so the routes are checked on the worker's own facts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from covenant.blobs import FolderBlobStore
from covenant.events.contract import default_codec
from covenant.events.promotion import Environment
from covenant.events.serving import RollbackDeployment, ScaleDeployment
from covenant.gateway import create_app
from covenant.runtime.service import run_workers
from covenant.serving.worker import make_serving_worker
from covenant.store import open_store
from covenant.testing import builders as b
from covenant.testing import embedded_log, publish, wait_for

MODEL = "digits:1.0.0"


async def test_deploy_read_scale_rollback_and_explain(tmp_path: Path) -> None:
    codec = default_codec()
    async with (
        embedded_log(tmp_path) as bus,
        open_store(f"sqlite:///{tmp_path / 'read.sqlite3'}") as store,
        FolderBlobStore(tmp_path / "blobs") as blobs,
    ):
        await publish(
            bus,
            b.model_registered(MODEL),
            b.manifest_signed(MODEL),
            b.model_promoted(MODEL, target=Environment.STAGING),
        )
        stop = asyncio.Event()
        worker = asyncio.create_task(
            run_workers([make_serving_worker()], bus=bus, codec=codec, stop=stop)
        )
        app = create_app(bus=bus, store=store, blobs=blobs, codec=codec)
        transport = httpx.ASGITransport(app=app)
        try:
            async with (
                app.router.lifespan_context(app),
                httpx.AsyncClient(transport=transport, base_url="http://gw.test") as client,
            ):
                body = {"modelId": MODEL, "env": "prod", "route": "digits", "deployId": "d1"}
                refused = await client.post("/serve/deploy?wait=30", json=body)
                assert refused.status_code == 409, refused.text
                assert "promoted to prod" in refused.json()["detail"]
                bad = await client.post("/serve/deploy", json={**body, "replicas": 2})
                assert bad.status_code == 422
                assert "replicas" in bad.text
                staged = {**body, "env": "staging", "deployId": "d2"}
                accepted = await client.post("/serve/deploy?wait=30", json=staged)
                assert accepted.status_code == 201, accepted.text
                record = accepted.json()["record"]
                assert (record["status"], record["env"]) == ("pending", "staging")
                assert record["provenance"]["signerId"] is not None
                await publish(bus, b.observe_replicas("d2", route="digits"))
                await asyncio.sleep(0.3)
                got = (await client.get("/serve/d2")).json()
                assert got["record"]["status"] == "serving"
                assert got["traffic"]["arms"][0]["deployId"] == "d2"
                scaled = await client.post("/serve/d2/scale", json={"replicas": 3})
                assert scaled.status_code == 202, scaled.text
                command = await wait_for(bus, ScaleDeployment)
                assert (command.route, command.replicas, command.meta.subject) == (
                    "digits",
                    3,
                    "route:digits",
                )
                rolled = await client.post("/serve/d2/rollback", json={"reason": "test"})
                assert rolled.status_code == 202
                assert (await wait_for(bus, RollbackDeployment)).deploy_id == "d2"
                await asyncio.sleep(0.3)
                explained = (await client.get("/serve/d2/explain")).json()
                statuses = [r["status"] for r in explained["history"]]
                assert statuses[0] == "pending"
                assert "serving" in statuses
                assert explained["scaling"][0]["toReplicas"] == 3
                for path in ("/serve/nope", "/serve/nope/explain"):
                    assert (await client.get(path)).status_code == 404
                missing = await client.post("/serve/nope/scale", json={"replicas": 1})
                assert missing.status_code == 404
        finally:
            stop.set()
            await worker
