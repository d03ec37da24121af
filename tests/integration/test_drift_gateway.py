"""Drift through the gateway, on the embedded log with the real drift worker: scores read
back as the latest window and the history, late labels posted, an outside alert that
names no known model refused, a retrain approved with a signed decision (a forged one
refused 403), and an outside safety alert that quarantines until signed off."""

from __future__ import annotations

import asyncio
import base64
import io
import re
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from covenant.blobs import FolderBlobStore
from covenant.cli._drift_live_report import render_html, render_png
from covenant.drift.signoff import signoff_message
from covenant.drift.windows import WindowSpec
from covenant.drift.worker import DriftSettings, make_drift_worker
from covenant.events.contract import default_codec
from covenant.events.drift import ObserveLabel
from covenant.events.training import SubmitTraining
from covenant.gateway import create_app
from covenant.runtime.service import run_workers
from covenant.signing import Signer
from covenant.store import open_store
from covenant.testing import collect, embedded_log, publish
from covenant.topics import ALL_TOPICS, DRIFT_LABELS, TRAIN_COMMANDS
from covenant.training.pools import default_pools
from drift_support import MODEL, ROUTE, T0, facts, samples, store_reference
from promotion_support import approvers, group

ROWS = 200


async def signed(signer: Signer, approver: str, subject_id: str, digest: str) -> dict[str, Any]:
    expires = T0 + timedelta(days=3650)
    nonce = uuid.uuid4().hex
    message = signoff_message(
        subject_id=subject_id,
        request_digest=digest,
        approver_id=approver,
        expires_at=expires,
        nonce=nonce,
    )
    return {
        "approverId": approver,
        "keyId": signer.key_id,
        "requestDigest": digest,
        "expiresAt": expires.isoformat(),
        "nonce": nonce,
        "signature": base64.b64encode(await signer.sign(message)).decode(),
    }


async def until(client: httpx.AsyncClient, path: str, ready: Any, timeout_s: float = 60) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        answer = await client.get(path)
        if answer.status_code == 200 and ready(answer.json()):
            return answer.json()
        assert asyncio.get_running_loop().time() < deadline, answer.text
        await asyncio.sleep(0.1)


def check_the_pictures(doc: dict[str, Any]) -> None:
    """The report drawn from the document: drifted columns first, each with its bins
    and its history; the PNG one panel row per column, readable by Pillow."""
    page = render_html(doc)
    sections = re.findall(r'<section class="([^"]+)"><div><h2>([^<]+)</h2>', page)
    assert sections[0][0] == "col drift"
    assert {name for css, name in sections if css == "col drift"} >= {"f1: DRIFT", "f2: DRIFT"}
    assert ("col", "f3: ok") in sections
    assert page.count("<svg") == 2 * len(sections)  # bins and history per column
    png = render_png(doc)
    with Image.open(io.BytesIO(png)) as image:
        width, height = image.size
        assert image.format == "PNG"
    assert width == 1100
    assert height == round(2.2 * len(doc["latest"][0]["columns"]) * 100)


async def test_scores_labels_alerts_and_decisions_over_http(tmp_path: Path) -> None:
    codec = default_codec()
    keys = approvers(tmp_path)
    async with (
        embedded_log(tmp_path) as bus,
        open_store(f"sqlite:///{tmp_path / 'read.sqlite3'}") as store,
        FolderBlobStore(tmp_path / "blobs") as blobs,
    ):
        await bus.ensure_topics(ALL_TOPICS)
        profile_id = await store_reference(blobs)
        await publish(bus, *facts(profile_id))
        worker = make_drift_worker(
            blobs=blobs,
            pools=default_pools(),
            approvers=group(keys),
            settings=DriftSettings(window=WindowSpec(rows=ROWS), resamples=500),
        )
        stop = asyncio.Event()
        task = asyncio.create_task(run_workers([worker], bus=bus, codec=codec, stop=stop))
        app = create_app(bus=bus, store=store, blobs=blobs, codec=codec)
        transport = httpx.ASGITransport(app=app)
        try:
            async with (
                app.router.lifespan_context(app),
                httpx.AsyncClient(transport=transport, base_url="http://gw.test") as client,
            ):
                missing = await client.get(f"/drift/{MODEL}")
                assert missing.status_code == 404
                # Window 0 clean, window 1 shifted by 1.5 sd on f1 and f2.
                await publish(
                    bus,
                    *samples(ROWS, seed=2),
                    *samples(ROWS, seed=3, shift=1.5, start=ROWS),
                )
                doc = await until(
                    client, f"/drift/{MODEL}", lambda d: len(d["proposals"]) == 1 and d["alerts"]
                )
                history = doc["history"]
                assert [h["window"] for h in history] == [0, 1]
                assert [h["drifted"] for h in history] == [False, True]
                shifted = history[1]["columns"]
                assert shifted["f1"]["drifted"]
                assert shifted["f1"]["value"] > shifted["f1"]["threshold"]
                assert not shifted["f3"]["drifted"]
                (latest,) = doc["latest"]
                assert latest["window"] == 1
                assert latest["referenceProfileId"] == profile_id
                f1 = next(c for c in latest["columns"] if c["column"] == "f1")
                assert {s["name"] for s in f1["statistics"]} == {"ks", "wasserstein", "psi", "js"}
                assert len(f1["bins"]) == len(f1["referenceShare"]) == len(f1["currentShare"])
                assert doc["findings"][0]["alertId"] == doc["alerts"][0]["alertId"]
                check_the_pictures(doc)

                labels = {
                    "route": ROUTE,
                    "labels": [
                        {"requestId": "req-1#0", "label": "a"},
                        {"requestId": "x", "label": "b"},
                    ],
                }
                posted = await client.post("/drift/labels", json=labels)
                assert posted.status_code == 202, posted.text
                seen = await collect(bus, DRIFT_LABELS, timeout_s=1)
                assert sorted(m.request_id for m in seen if isinstance(m, ObserveLabel)) == [
                    "req-1#0",
                    "x",
                ]
                empty = await client.post("/drift/labels", json={"route": ROUTE, "labels": []})
                assert empty.status_code == 422

                unknown = {
                    "modelId": "nope:9.9.9", "route": ROUTE, "severity": "drift",
                    "reason": "looks off", "source": "grafana",
                }  # fmt: skip
                refused = await client.post("/drift/alert?wait=30", json=unknown)
                assert refused.status_code == 404, refused.text
                assert refused.json()["code"] == "unknown_model"

                (proposal,) = doc["proposals"]
                assert proposal["status"] == "awaiting_approval"
                assert proposal["lineage"]["parentModelId"] == MODEL
                assert proposal["cost"] is not None
                pid, digest = proposal["proposalId"], proposal["requestDigest"]
                assert await collect(bus, TRAIN_COMMANDS, timeout_s=0.5) == []
                forged = await signed(keys["cy"], "ann", pid, digest)  # ann's name, cy's key
                answer = await client.post(f"/drift/proposals/{pid}/approve?wait=30", json=forged)
                assert answer.status_code == 403, answer.text
                good = await signed(keys["ann"], "ann", pid, digest)
                answer = await client.post(f"/drift/proposals/{pid}/approve?wait=30", json=good)
                assert answer.status_code == 201, answer.text
                job_id = answer.json()["jobId"]
                submitted = [
                    m for m in await collect(bus, TRAIN_COMMANDS) if isinstance(m, SubmitTraining)
                ]
                assert [s.job_id for s in submitted] == [job_id]
                again = await client.post(f"/drift/proposals/{pid}/approve?wait=30", json=good)
                assert again.status_code == 409, again.text
                shown = (await client.get(f"/drift/proposals/{pid}")).json()
                assert shown["status"] == "approved"
                assert len(shown["refusals"]) == 2

                safety = {
                    "modelId": MODEL, "route": ROUTE, "severity": "safety",
                    "reason": "toxic answers reported", "source": "trust-and-safety",
                }  # fmt: skip
                raised = await client.post("/drift/alert?wait=30", json=safety)
                assert raised.status_code == 201, raised.text
                doc = await until(client, f"/drift/{MODEL}", lambda d: d["quarantines"])
                (quarantine,) = doc["quarantines"]
                assert quarantine["status"] == "in_force"
                qid = quarantine["quarantineId"]
                need = quarantine["requiredSignoffs"]
                for name in ("ann", "bob")[:need]:
                    body = await signed(keys[name], name, qid, quarantine["requestDigest"])
                    answer = await client.post(
                        f"/drift/quarantines/{qid}/signoff?wait=30", json=body
                    )
                    assert answer.status_code == 201, answer.text
                released = await until(
                    client, f"/drift/quarantines/{qid}", lambda d: d["status"] == "released"
                )
                assert released["signedBy"] == ["ann", "bob"][:need]
                assert (await client.get("/drift/quarantines/none")).status_code == 404
        finally:
            stop.set()
            await task
