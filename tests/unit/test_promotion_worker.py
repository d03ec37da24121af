"""The promotion worker's decisions, record by record, without a log: the secure
promotion acceptance criterion each way it can fail, multisig 2-of-3 with every way an
approval can be refused, the SentinelNet timeout, repeats, demotion and deprecation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from covenant.events.base import Message
from covenant.events.policy import MatchedRule, PolicyDecided, PolicyStage, RequestPolicy
from covenant.events.promotion import (
    ApprovalAccepted,
    ApprovalRefused,
    DemoteModel,
    DeprecateModel,
    Environment,
    ExpirePromotion,
    KeyCustody,
    LifecycleRefused,
    ModelDemoted,
    ModelDeprecated,
    ModelPromoted,
    PromotionBlocked,
    PromotionCheck,
    PromotionPending,
    RequestPromotion,
)
from covenant.events.refusals import Refusal, RefusalCode
from covenant.events.registry import ModelRegistryEntry, ModelStatus
from covenant.promotion import ApproverGroup, EvaluationView, make_promotion_worker
from covenant.promotion.state import PromotionState
from covenant.runtime.worker import Context, Worker
from covenant.signing import LocalKeySigner, Signer
from covenant.testing import builders
from promotion_support import approval, approvers, group, signed_manifest

MODEL = "digits:1.0.0"
SUBJECT = f"model:{MODEL}"


def state_of(w: Worker) -> PromotionState:
    assert isinstance(w.state, PromotionState)
    return w.state


async def run(w: Worker, message: Message) -> list[Any]:
    ctx = Context(worker=w.name, cause=message)
    await w.handle(message, ctx)
    for emitted in ctx.emitted:
        state_of(w).apply(emitted)
    return ctx.emitted


def request(target: Environment, promotion_id: str = "p1", **body: Any) -> RequestPromotion:
    return RequestPromotion.create(
        subject=SUBJECT,
        actor="kernel",
        producer="test",
        promotion_id=promotion_id,
        model_id=MODEL,
        target=target,
        **body,
    )


def decided(
    promotion_id: str = "p1",
    *,
    allowed: bool = True,
    matched: list[MatchedRule] | None = None,
) -> PolicyDecided:
    refusals = [] if allowed else [Refusal(code=RefusalCode.POLICY, message="dataset d1 is NC")]
    return PolicyDecided.create(
        subject=SUBJECT,
        actor="kernel",
        producer="policy",
        stage=PolicyStage.PRE_PROMOTION,
        subject_id=promotion_id,
        allowed=allowed,
        policy_version="2026.12.1",
        matched=matched or [],
        refusals=refusals,
        decided_by="covenant-policy",
    )


HIGH_RISK = MatchedRule(rule_id="high-risk", effect="require_multisig", reason="high-risk")


class Setup:
    """A worker that knows one registered version, its evaluation and signature."""

    def __init__(self, tmp_path: Path, approvers_group: ApproverGroup | None = None) -> None:
        self.worker = make_promotion_worker(
            **({"approvers": approvers_group} if approvers_group else {})
        )
        registered = builders.model_registered(MODEL, datasets=["d1"])
        self.entry: ModelRegistryEntry = registered.entry
        state_of(self.worker).apply(registered)
        self.hsm: Signer = LocalKeySigner.generate(tmp_path / "hsm-standin.pem")

    @property
    def state(self) -> PromotionState:
        return state_of(self.worker)

    def evaluated(self, passed: bool = True) -> None:
        failed = () if passed else ("min_accuracy",)
        self.state.evaluations[MODEL] = EvaluationView("eval-1", passed, failed)

    async def signed(self, custody: KeyCustody = KeyCustody.HSM, **kw: Any) -> None:
        self.state.apply(await signed_manifest(self.entry, self.hsm, custody=custody, **kw))

    def status(self) -> ModelStatus:
        return self.state.models[MODEL].status

    async def promote(self, target: Environment, promotion_id: str) -> list[Any]:
        out = await run(self.worker, request(target, promotion_id))
        assert [type(m) for m in out] == [PromotionPending, RequestPolicy]
        return await run(self.worker, decided(promotion_id))


@pytest.fixture
async def ready(tmp_path: Path) -> Setup:
    setup = Setup(tmp_path)
    setup.evaluated()
    await setup.signed()
    return setup


def checks(out: list[Any]) -> list[PromotionCheck]:
    assert [type(m) for m in out] == [PromotionBlocked], out
    return [r.check for r in out[0].reasons]


async def test_with_everything_in_place_it_goes_to_staging_then_prod(ready: Setup) -> None:
    out = await run(ready.worker, request(Environment.STAGING, "p1", region="us-east"))
    pending, asked = out
    assert pending.waiting_for == "policy"
    assert len(pending.request_digest) == 64
    assert asked.stage is PolicyStage.PRE_PROMOTION
    assert asked.subject_id == "p1"
    document = json.loads(asked.input_json)
    assert document["request"] == {
        "promotion_id": "p1",
        "model_id": MODEL,
        "target": "staging",
        "region": "us-east",
    }
    assert document["facts"]["signature"]["custody"] == "hsm"
    assert document["facts"]["evaluation"]["passed"] is True
    (promoted,) = await run(ready.worker, decided("p1"))
    assert isinstance(promoted, ModelPromoted)
    assert (promoted.from_status, promoted.to_status) == (ModelStatus.DRAFT, ModelStatus.STAGING)
    signature = ready.state.signatures[MODEL]
    assert promoted.signer_id == ready.hsm.key_id == signature.signer_id
    assert promoted.signature == signature.signature
    assert promoted.evaluation_id == "eval-1"
    assert promoted.policy_version == "2026.12.1"
    assert ready.status() is ModelStatus.STAGING
    (to_prod,) = await ready.promote(Environment.PROD, "p2")
    assert isinstance(to_prod, ModelPromoted)
    assert to_prod.to_status is ModelStatus.PROD
    assert ready.status() is ModelStatus.PROD


async def test_prod_with_a_failed_evaluation_is_blocked_for_exactly_that(ready: Setup) -> None:
    await ready.promote(Environment.STAGING, "p1")
    ready.evaluated(passed=False)
    out = await run(ready.worker, request(Environment.PROD, "p2"))
    assert checks(out) == [PromotionCheck.EVALUATION_FAILED]
    assert "min_accuracy" in out[0].reasons[0].message
    assert ready.status() is ModelStatus.STAGING


async def test_prod_without_sentinelnet_clearance_is_blocked(ready: Setup) -> None:
    await ready.promote(Environment.STAGING, "p1")
    await run(ready.worker, request(Environment.PROD, "p2"))
    out = await run(ready.worker, decided("p2", allowed=False))
    assert checks(out) == [PromotionCheck.POLICY_DENIED]
    assert "dataset d1 is NC" in out[0].reasons[0].message
    assert ready.status() is ModelStatus.STAGING


async def test_prod_without_a_signature_is_blocked(tmp_path: Path) -> None:
    setup = Setup(tmp_path)
    setup.evaluated()
    setup.state.models[MODEL].status = ModelStatus.STAGING
    assert checks(await run(setup.worker, request(Environment.PROD))) == [
        PromotionCheck.SIGNATURE_MISSING
    ]
    assert setup.status() is ModelStatus.STAGING


async def test_prod_with_a_development_key_signature_is_blocked(tmp_path: Path) -> None:
    setup = Setup(tmp_path)
    setup.evaluated()
    await setup.signed(custody=KeyCustody.DEVELOPMENT)
    setup.state.models[MODEL].status = ModelStatus.STAGING
    out = await run(setup.worker, request(Environment.PROD))
    assert checks(out) == [PromotionCheck.SIGNATURE_DEVELOPMENT_KEY]
    assert "HSM or KMS" in out[0].reasons[0].message
    assert setup.status() is ModelStatus.STAGING


async def test_skipping_staging_is_blocked(ready: Setup) -> None:
    out = await run(ready.worker, request(Environment.PROD))
    assert checks(out) == [PromotionCheck.ORDER]
    assert "staging first" in out[0].reasons[0].message
    assert ready.status() is ModelStatus.DRAFT


async def test_every_failing_check_is_reported_at_once(tmp_path: Path) -> None:
    setup = Setup(tmp_path)
    assert checks(await run(setup.worker, request(Environment.PROD))) == [
        PromotionCheck.ORDER,
        PromotionCheck.EVALUATION_MISSING,
        PromotionCheck.SIGNATURE_MISSING,
    ]


async def test_a_manifest_of_another_version_or_key_is_invalid(tmp_path: Path) -> None:
    setup = Setup(tmp_path)
    setup.evaluated()
    await setup.signed(model_id="digits:9.9.9")
    out = await run(setup.worker, request(Environment.STAGING))
    assert checks(out) == [PromotionCheck.SIGNATURE_INVALID]
    assert "digits:9.9.9" in out[0].reasons[0].message
    # Re-signed by another key that claims to be the first one.
    await setup.signed()
    genuine = setup.state.signatures[MODEL]
    other = LocalKeySigner.generate(tmp_path / "other.pem")
    forged = await signed_manifest(setup.entry, other)
    setup.state.signatures[MODEL] = forged.signature.model_copy(
        update={"public_key_pem": genuine.public_key_pem, "signer_id": genuine.signer_id}
    )
    out = await run(setup.worker, request(Environment.STAGING, "p2"))
    assert checks(out) == [PromotionCheck.SIGNATURE_INVALID]


async def test_sentinelnet_that_never_answers_blocks_naming_the_timeout(ready: Setup) -> None:
    await run(ready.worker, request(Environment.STAGING))
    expire = ExpirePromotion.create(
        subject=SUBJECT,
        actor="covenant",
        producer="clock",
        promotion_id="p1",
        model_id=MODEL,
        waiting_for="policy",
        timeout_s=30.0,
    )
    out = await run(ready.worker, expire)
    assert checks(out) == [PromotionCheck.POLICY_TIMEOUT]
    assert "within 30 s" in out[0].reasons[0].message
    assert await run(ready.worker, decided("p1")) == []  # too late: changes nothing
    assert await run(ready.worker, expire) == []
    assert ready.status() is ModelStatus.DRAFT


async def test_a_repeated_request_or_decision_changes_nothing(ready: Setup) -> None:
    first = request(Environment.STAGING)
    await run(ready.worker, first)
    assert await run(ready.worker, first) == []
    assert len(await run(ready.worker, decided("p1"))) == 1
    assert await run(ready.worker, decided("p1")) == []
    assert await run(ready.worker, first) == []


async def test_multisig_two_of_three(tmp_path: Path) -> None:
    keys = approvers(tmp_path)
    setup = Setup(tmp_path, group(keys))
    setup.evaluated()
    await setup.signed()
    setup.state.models[MODEL].status = ModelStatus.STAGING
    await run(setup.worker, request(Environment.PROD))
    (pending,) = await run(setup.worker, decided("p1", matched=[HIGH_RISK]))
    assert isinstance(pending, PromotionPending)
    assert pending.waiting_for == "approvals"
    assert pending.required_approvals == 2
    assert pending.approvers == ["ann", "bob", "cy"]
    assert pending.approved_by == []
    digest = pending.request_digest

    async def approve(signer: Signer, who: str, **kw: Any) -> list[Any]:
        return await run(
            setup.worker,
            await approval(
                signer,
                approver_id=who,
                promotion_id="p1",
                model_id=MODEL,
                request_digest=kw.pop("request_digest", digest),
                now=datetime.now(UTC),
                **kw,
            ),
        )

    accepted, still = await approve(keys["ann"], "ann", nonce="n-ann")
    assert isinstance(accepted, ApprovalAccepted)
    assert isinstance(still, PromotionPending)
    assert still.approved_by == ["ann"]
    assert setup.status() is ModelStatus.STAGING

    def refused(out: list[Any], text: str) -> None:
        assert [type(m) for m in out] == [ApprovalRefused], out
        assert text in out[0].reason
        assert setup.state.pending["p1"].approved_by == ["ann"]

    refused(await approve(keys["ann"], "ann", nonce="n-ann-2"), "counts once")
    refused(await approve(keys["ann"], "ann", nonce="n-ann"), "replayed")
    refused(await approve(keys["cy"], "bob"), "signed with key")  # cy's key, bob's name
    refused(await approve(keys["bob"], "bob", expires_in=timedelta(seconds=-1)), "expired")
    refused(await approve(keys["bob"], "bob", request_digest="0" * 64), "another request")
    outsider = LocalKeySigner.generate(tmp_path / "mallory.pem")
    refused(await approve(outsider, "mallory"), "not in the approvers group")
    forged = await approval(
        outsider,
        approver_id="bob",
        promotion_id="p1",
        model_id=MODEL,
        request_digest=digest,
        now=datetime.now(UTC),
    )
    forged = forged.model_copy(update={"key_id": keys["bob"].key_id})
    refused(await run(setup.worker, forged), "forged")
    accepted, promoted = await approve(keys["bob"], "bob")
    assert isinstance(promoted, ModelPromoted)
    assert promoted.approved_by == ["ann", "bob"]
    assert setup.status() is ModelStatus.PROD
    late = await approve(keys["cy"], "cy")
    assert [type(m) for m in late] == [ApprovalRefused]


async def test_multisig_without_approvers_is_blocked(ready: Setup) -> None:
    await ready.promote(Environment.STAGING, "p1")
    await run(ready.worker, request(Environment.PROD, "p2"))
    out = await run(ready.worker, decided("p2", matched=[HIGH_RISK]))
    assert checks(out) == [PromotionCheck.APPROVERS_UNCONFIGURED]


async def test_demotion_and_deprecation_are_events(ready: Setup) -> None:
    await ready.promote(Environment.STAGING, "p1")
    demote = DemoteModel.create(
        subject=SUBJECT,
        actor="kernel",
        producer="test",
        model_id=MODEL,
        target=Environment.SANDBOX,
        reason="canary regressed",
    )
    (demoted,) = await run(ready.worker, demote)
    assert isinstance(demoted, ModelDemoted)
    assert demoted.to_status is ModelStatus.DRAFT
    (again,) = await run(ready.worker, demote)
    assert isinstance(again, LifecycleRefused)
    assert "not below" in again.reason
    deprecate = DeprecateModel.create(
        subject=SUBJECT, actor="kernel", producer="test", model_id=MODEL, reason="superseded"
    )
    (deprecated,) = await run(ready.worker, deprecate)
    assert isinstance(deprecated, ModelDeprecated)
    assert ready.status() is ModelStatus.DEPRECATED
    out = await run(ready.worker, request(Environment.STAGING, "p9"))
    assert checks(out) == [PromotionCheck.DEPRECATED]


def test_a_status_change_folded_before_its_registration_is_kept() -> None:
    """A table rebuilt from offset 0 reads topics in no particular order between them."""
    registered = builders.model_registered(MODEL)
    promoted = builders.model_promoted(MODEL, target=Environment.STAGING)
    for order in ((registered, promoted), (promoted, registered)):
        state = PromotionState()
        for message in order:
            state.apply(message)
        assert state.models[MODEL].status is ModelStatus.STAGING


async def test_a_manifest_signed_again_while_pending_blocks_the_promotion(ready: Setup) -> None:
    await run(ready.worker, request(Environment.STAGING))
    # Another manifest of the same version (other facts in its predicate) while
    # SentinelNet decides; signing the same facts again would give the same payload.
    changed = ready.entry.model_copy(update={"metrics": {"accuracy": 0.5}})
    ready.state.apply(await signed_manifest(changed, ready.hsm))
    out = await run(ready.worker, decided("p1"))
    assert checks(out) == [PromotionCheck.SIGNATURE_INVALID]
    assert "signed again" in out[0].reasons[0].message
    assert ready.status() is ModelStatus.DRAFT
