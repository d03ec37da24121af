"""Secure promotion end to end on a real log (embedded and Kafka), a real HSM (SoftHSM2
over PKCS#11) and the real workers: the notary signs the manifest on the token, the
built-in SentinelNet clears it, the promotion worker takes the version to staging,
then to prod once two of three approvers signed (a forged approval refused on the
way); and, with an external SentinelNet that never answers, the clock blocks it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from covenant.bus import Bus
from covenant.events.base import Message
from covenant.events.contract import default_codec
from covenant.events.datasets import ProvenanceReview
from covenant.events.promotion import (
    ApprovalRefused,
    Environment,
    KeyCustody,
    ManifestSigned,
    ModelPromoted,
    PromotionBlocked,
    PromotionCheck,
    PromotionPending,
    RequestPromotion,
    SignManifest,
)
from covenant.events.registry import ModelStatus
from covenant.policy import make_policy_worker
from covenant.promotion import make_promotion_worker
from covenant.promotion.clock import PromotionClock
from covenant.promotion.notary import make_notary_worker
from covenant.provenance import Envelope, verify_envelope
from covenant.signing.pkcs11 import Pkcs11Signer
from covenant.testing import builders, publish, running, wait_for
from covenant.testing.softhsm import SoftHsm
from covenant.topics import ALL_TOPICS
from promotion_support import approval, approvers, group

M = TypeVar("M", bound=Message)
MODEL = "digits:1.0.0"
SUBJECT = f"model:{MODEL}"


def facts() -> list[Message]:
    """A reviewed dataset, a high-risk version trained on it, and a passed evaluation."""
    return [
        builders.dataset_registered("d1", provenance_review=ProvenanceReview.PASSED),
        builders.model_registered(MODEL, datasets=["d1"], provenance={"risk_tier": "high"}),
        builders.evaluation_completed(model_id=MODEL),
    ]


def promote(target: Environment, promotion_id: str) -> RequestPromotion:
    return RequestPromotion.create(
        subject=SUBJECT,
        actor="kernel",
        producer="kernel",
        promotion_id=promotion_id,
        model_id=MODEL,
        target=target,
    )


async def outcome(bus: Bus, kind: type[M], promotion_id: str, **fields: Any) -> M:
    """The first ``kind`` of ``promotion_id`` (with ``fields``), waiting for it."""

    def wanted(message: M) -> bool:
        values = {"promotion_id": promotion_id, **fields}
        return all(getattr(message, k) == v for k, v in values.items())

    return await wait_for(bus, kind, wanted, timeout_s=60)


async def test_signed_on_the_hsm_cleared_approved_and_promoted(
    bus: Bus, softhsm: SoftHsm, tmp_path: Path
) -> None:
    await bus.ensure_topics(ALL_TOPICS)
    where = softhsm.key()
    await Pkcs11Signer.generate(where)
    keys = approvers(tmp_path)
    async with Pkcs11Signer.open(where) as hsm:
        workers = [
            make_policy_worker(),
            make_promotion_worker(approvers=group(keys)),
            make_notary_worker(hsm),
        ]
        await publish(bus, *facts())
        async with running(bus, workers):
            sign = SignManifest.create(
                subject=SUBJECT, actor="kernel", producer="kernel", manifest_id="m1", model_id=MODEL
            )
            await publish(bus, sign)

            link = (await wait_for(bus, ManifestSigned, timeout_s=60)).signature
            assert link.custody is KeyCustody.HSM
            assert link.signer_id == hsm.key_id
            # The manifest verifies with the public key alone.
            statement = verify_envelope(Envelope.from_bytes(link.envelope), hsm.public_key_pem())
            assert statement.predicate["modelId"] == MODEL
            assert statement.predicate["evaluations"][0]["passed"] is True

            await publish(bus, promote(Environment.STAGING, "to-staging"))
            staged = await outcome(bus, ModelPromoted, "to-staging")
            assert staged.to_status is ModelStatus.STAGING
            assert staged.signer_id == hsm.key_id

            await publish(bus, promote(Environment.PROD, "to-prod"))
            waiting = await outcome(bus, PromotionPending, "to-prod", waiting_for="approvals")
            assert waiting.required_approvals == 2
            now = datetime.now(UTC)
            common = {"promotion_id": "to-prod", "model_id": MODEL, "now": now}
            digest = waiting.request_digest
            await publish(
                bus, await approval(keys["ann"], approver_id="ann", request_digest=digest, **common)
            )
            forged = await approval(keys["cy"], approver_id="bob", request_digest=digest, **common)
            forged = forged.model_copy(update={"key_id": keys["bob"].key_id})
            await publish(bus, forged)
            refused = await outcome(bus, ApprovalRefused, "to-prod")
            assert "forged" in refused.reason
            await publish(
                bus, await approval(keys["bob"], approver_id="bob", request_digest=digest, **common)
            )
            prod = await outcome(bus, ModelPromoted, "to-prod")
            assert prod.to_status is ModelStatus.PROD
            assert prod.approved_by == ["ann", "bob"]


async def test_an_external_sentinelnet_that_never_answers_blocks_naming_the_timeout(
    bus: Bus, tmp_path: Path
) -> None:
    from covenant.signing import Custody, LocalKeySigner

    await bus.ensure_topics(ALL_TOPICS)
    signer = LocalKeySigner.generate(tmp_path / "key.pem")

    class Hsm:  # the custody an HSM would report; the key itself is a local one
        key_id = signer.key_id
        algorithm = signer.algorithm
        custody = Custody.HSM
        sign = signer.sign
        public_key_pem = signer.public_key_pem

    workers = [make_promotion_worker(), make_notary_worker(Hsm())]  # no policy worker
    await publish(bus, *facts())
    clock = PromotionClock(bus=bus, codec=default_codec(), timeout_s=1.0, interval_s=0.1)
    stop = asyncio.Event()
    async with running(bus, workers):
        ticking = asyncio.create_task(clock.run(stop))
        try:
            sign = SignManifest.create(
                subject=SUBJECT, actor="kernel", producer="kernel", manifest_id="m1", model_id=MODEL
            )
            await publish(bus, sign)
            await wait_for(bus, ManifestSigned, timeout_s=60)
            await publish(bus, promote(Environment.STAGING, "p1"))
            blocked = await outcome(bus, PromotionBlocked, "p1")
        finally:
            stop.set()
            await ticking
    assert [r.check for r in blocked.reasons] == [PromotionCheck.POLICY_TIMEOUT]
    assert "within 1 s" in blocked.reasons[0].message
