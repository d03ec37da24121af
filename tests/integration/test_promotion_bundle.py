"""The offline provenance bundle of a promoted version, made from a real log and audit
trail: it verifies with the manifest's public key alone, carries every promotion
event with its inclusion proof, and fails when an event or the key is swapped."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from covenant.audit.worker import AuditOptions, run_audit_worker
from covenant.bus import Bus
from covenant.events.contract import default_codec
from covenant.events.datasets import ProvenanceReview
from covenant.events.promotion import (
    Environment,
    ManifestSigned,
    ModelPromoted,
    RequestPromotion,
    SignManifest,
)
from covenant.policy import make_policy_worker
from covenant.promotion import make_promotion_worker
from covenant.promotion.bundles import BundleUnavailableError, provenance_bundle
from covenant.promotion.notary import make_notary_worker
from covenant.provenance import ProvenanceError, verify_bundle
from covenant.signing import LocalKeySigner
from covenant.testing import builders, publish, running, wait_for
from covenant.topics import ALL_TOPICS

MODEL = "digits:1.0.0"


async def test_a_promoted_version_has_a_bundle_that_verifies_offline(
    bus: Bus, tmp_path: Path
) -> None:
    await bus.ensure_topics(ALL_TOPICS)
    codec = default_codec()
    signer = LocalKeySigner.generate(tmp_path / "signer.pem")
    with pytest.raises(BundleUnavailableError, match="no signed manifest"):
        await provenance_bundle(
            bus, MODEL, audit_public_key_pem=signer.public_key_pem(), codec=codec
        )
    await publish(
        bus,
        builders.dataset_registered("d1", provenance_review=ProvenanceReview.PASSED),
        builders.model_registered(MODEL, datasets=["d1"]),
        builders.evaluation_completed(model_id=MODEL),
    )
    stop = asyncio.Event()
    workers = [make_policy_worker(), make_promotion_worker(), make_notary_worker(signer)]
    audit = asyncio.create_task(
        run_audit_worker(
            bus=bus,
            codec=codec,
            signer=signer,
            stop=stop,
            options=AuditOptions(checkpoint_interval_s=0.2),
        )
    )
    try:
        async with running(bus, workers):
            await publish(
                bus,
                SignManifest.create(
                    subject=f"model:{MODEL}",
                    actor="kernel",
                    producer="kernel",
                    manifest_id="m1",
                    model_id=MODEL,
                ),
            )
            await wait_for(bus, ManifestSigned, timeout_s=60)
            # A development key signs here, so the promotion is blocked: a fact the
            # bundle must carry like any other.
            request = RequestPromotion.create(
                subject=f"model:{MODEL}",
                actor="kernel",
                producer="kernel",
                promotion_id="p1",
                model_id=MODEL,
                target=Environment.STAGING,
            )
            await publish(bus, request)
            bundle = b""
            for _ in range(100):  # until a checkpoint covers the outcome
                try:
                    bundle = await provenance_bundle(
                        bus, MODEL, audit_public_key_pem=signer.public_key_pem(), codec=codec
                    )
                except BundleUnavailableError:
                    await asyncio.sleep(0.2)
                    continue
                if b"promotion.blocked" in bundle:
                    break
                await asyncio.sleep(0.2)
    finally:
        stop.set()
        await audit
    report = verify_bundle(bundle, signer.public_key_pem())
    assert report.model_id == MODEL
    assert report.signer_key_id == signer.key_id
    types = [e.type for e in report.events]
    assert "manifest.signed" in types
    assert "promotion.blocked" in types
    assert not [e for e in report.events if e.type == ModelPromoted.TYPE]

    other = LocalKeySigner.generate(tmp_path / "other.pem")
    with pytest.raises(ProvenanceError):
        verify_bundle(bundle, other.public_key_pem())
    document = json.loads(bundle)
    document["events"][-1]["event"]["modelId"] = "digits:6.6.6"
    tampered = json.dumps(document).encode()
    with pytest.raises(ProvenanceError):
        verify_bundle(tampered, signer.public_key_pem())
