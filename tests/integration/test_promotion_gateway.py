"""Promotion through the gateway, on the embedded log with the real workers and the read
store's projection: sign, a blocked promote with its reasons, promote to staging and
prod with approvals signed over the request digest the gateway shows, the model page's
status and signature, and the artifact's signed provenance."""

from __future__ import annotations

import asyncio
import base64
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from covenant.blobs import FolderBlobStore
from covenant.events.contract import default_codec
from covenant.events.datasets import ProvenanceReview
from covenant.events.registry import ModelRegistered
from covenant.gateway import create_app
from covenant.policy import make_policy_worker
from covenant.promotion import approval_message, make_promotion_worker
from covenant.promotion.notary import make_notary_worker
from covenant.provenance import verify_envelope
from covenant.runtime.service import run_workers
from covenant.signing import Custody, LocalKeySigner, Signer
from covenant.store import open_store
from covenant.store.projector import run_projection
from covenant.testing import builders, embedded_log, publish, wait_for
from promotion_support import approvers, group

MODEL = "fraud:1.0.0"


class HsmStandIn:
    """A local key that reports HSM custody: what the promotion rules see of an HSM."""

    def __init__(self, signer: LocalKeySigner) -> None:
        self._signer = signer
        self.key_id = signer.key_id
        self.algorithm = signer.algorithm
        self.custody = Custody.HSM

    async def sign(self, message: bytes) -> bytes:
        return await self._signer.sign(message)

    def public_key_pem(self) -> bytes:
        return self._signer.public_key_pem()


async def _approval(signer: Signer, who: str, promotion: dict[str, Any]) -> dict[str, Any]:
    expires_at = datetime.now(UTC) + timedelta(minutes=5)
    nonce = secrets.token_hex(8)
    message = approval_message(
        promotion_id=promotion["promotionId"],
        request_digest=promotion["requestDigest"],
        approver_id=who,
        expires_at=expires_at,
        nonce=nonce,
    )
    return {
        "approverId": who,
        "keyId": signer.key_id,
        "requestDigest": promotion["requestDigest"],
        "expiresAt": expires_at.isoformat(),
        "nonce": nonce,
        "signature": base64.b64encode(await signer.sign(message)).decode(),
    }


async def test_sign_promote_approve_and_read_it_back(tmp_path: Path) -> None:
    codec = default_codec()
    keys = approvers(tmp_path)
    hsm = HsmStandIn(LocalKeySigner.generate(tmp_path / "hsm.pem"))
    async with (
        embedded_log(tmp_path) as bus,
        open_store(f"sqlite:///{tmp_path / 'read.sqlite3'}") as store,
        FolderBlobStore(tmp_path / "blobs") as blobs,
    ):
        registered = builders.model_registered(
            MODEL, datasets=["d1"], provenance={"risk_tier": "high"}
        )
        artifact_id = registered.entry.artifact_id
        await publish(
            bus,
            builders.artifact_stored(f"weights {MODEL}"),
            builders.dataset_registered("d1", provenance_review=ProvenanceReview.PASSED),
            registered,
            builders.evaluation_completed(model_id=MODEL),
        )
        await wait_for(bus, ModelRegistered)
        workers = [
            make_policy_worker(),
            make_promotion_worker(approvers=group(keys)),
            make_notary_worker(hsm),
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
                skipped = await client.post(
                    f"/models/{MODEL}/promote?wait=30", json={"target": "prod"}
                )
                assert skipped.status_code == 200, skipped.text
                assert skipped.json()["status"] == "blocked"
                assert [r["check"] for r in skipped.json()["reasons"]] == [
                    "order",
                    "signature_missing",
                ]
                signed = await client.post(f"/models/{MODEL}/sign?wait=30")
                assert signed.status_code == 201, signed.text
                staging = await client.post(
                    f"/models/{MODEL}/promote?wait=30", json={"target": "staging"}
                )
                assert staging.json()["status"] == "promoted", staging.text
                assert staging.json()["promoted"]["signerId"] == hsm.key_id
                prod = await client.post(
                    f"/models/{MODEL}/promote?wait=30", json={"target": "prod"}
                )
                pending = prod.json()
                assert pending["waitingFor"] == "approvals", pending
                assert pending["mayStillApprove"] == ["ann", "bob", "cy"]
                url = f"/promotions/{pending['promotionId']}/approve?wait=30"
                forged = await _approval(keys["cy"], "bob", pending)
                refused = await client.post(url, json=forged)
                assert refused.status_code == 403, refused.text
                for who in ("ann", "bob"):
                    answer = await client.post(url, json=await _approval(keys[who], who, pending))
                    assert answer.status_code == 201, answer.text
                done = (await client.get(f"/promotions/{pending['promotionId']}")).json()
                for _ in range(100):
                    if done["status"] == "promoted":
                        break
                    await asyncio.sleep(0.05)
                    done = (await client.get(f"/promotions/{pending['promotionId']}")).json()
                assert done["status"] == "promoted"
                assert done["promoted"]["approvedBy"] == ["ann", "bob"]
                assert [r["approverId"] for r in done["refusedApprovals"]] == ["bob"]
                page: dict[str, Any] = {}
                for _ in range(100):
                    page = (await client.get(f"/models/{MODEL}")).json()
                    if page["status"] == "prod":
                        break
                    await asyncio.sleep(0.05)
                assert page["status"] == "prod"
                assert page["signerId"] == hsm.key_id
                assert [h["status"] for h in page["history"]] == ["draft", "staging", "prod"]
                artifact = (await client.get(f"/artifact/{artifact_id}")).json()
                (provenance,) = artifact["provenance"]
                assert provenance["custody"] == "hsm"
                statement = verify_envelope(provenance["envelope"], hsm.public_key_pem())
                assert statement.predicate["modelId"] == MODEL
        finally:
            stop.set()
            await asyncio.gather(*tasks)
