"""The demo's promotion steps: step 4's evaluation and step 5 of the spec's example flow.

Before the platform starts, :func:`prepare` gives the demo what production has: a
PKCS#11 HSM (a SoftHSM2 token under the demo folder, the Ed25519 key generated on it
and never extractable) named by ``COVENANT_SIGNER``, three approvers with their own
keys in an approvers file, and policies in which the digits family is high-risk in
prod (so multisig is demanded). Then, on the running platform, :func:`run_promotion`
evaluates the trained model on a held-out test set (gates, fairness over a synthetic
group column), signs its manifest through the HSM, shows a promotion that skips
staging being blocked, promotes it to staging, collects 2 of 3 approvals for prod (a
forged one refused on the way), and writes the offline provenance bundle and checks
it with the public key alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from covenant.cli._demo_example import DemoError, example_data
from covenant.cli._demo_training import _ask, _Watch, register_csv
from covenant.errors import CovenantError
from covenant.events.base import Message
from covenant.events.evaluation import (
    EvaluationCompleted,
    EvaluationFailed,
    MetricsConfig,
    RunEvaluation,
)
from covenant.events.promotion import (
    ApprovalRefused,
    ApprovePromotion,
    Environment,
    ManifestSigned,
    ModelPromoted,
    PromotionBlocked,
    PromotionPending,
    RequestPromotion,
    SignManifest,
)
from covenant.platform import Platform
from covenant.promotion.approvals import approval_message
from covenant.promotion.bundles import BundleUnavailableError, provenance_bundle
from covenant.provenance import Envelope, check_watermark, verify_bundle
from covenant.signing import LocalKeySigner, Signer
from covenant.topics import ARTIFACT_EVENTS, DATASET_EVENTS, EVAL_EVENTS, PROMOTION_EVENTS, Topic

TEST_SET = "digits-test:v1"
APPROVERS = ("ann", "bob", "cy")


@dataclass
class PromotionResult:
    """What the promotion steps did, for the terminal and for ``--json``."""

    eval_id: str = ""
    eval_passed: bool = False
    accuracy: float = 0.0
    gates: dict[str, str] = field(default_factory=dict)
    fairness: dict[str, float] = field(default_factory=dict)
    signer_id: str = ""
    custody: str = ""
    skipped_staging_blocked: list[str] = field(default_factory=list)
    staging: str = ""
    required_approvals: int = 0
    forged_refused: str = ""
    approved_by: list[str] = field(default_factory=list)
    prod: str = ""
    bundle: str = ""
    bundle_events: int = 0
    bundle_verified: bool = False
    watermarked: str = ""
    watermark_checked: bool = False


class _PromotionWatch(_Watch):
    TOPICS: tuple[Topic, ...] = (ARTIFACT_EVENTS, DATASET_EVENTS, EVAL_EVENTS, PROMOTION_EVENTS)


def prepare(home: Path) -> dict[str, str]:
    """The HSM, approvers and policies of the demo; the settings that name them."""
    from covenant.signing.pkcs11 import Pkcs11Signer
    from covenant.testing.softhsm import start_softhsm

    try:
        hsm = start_softhsm(home / "hsm", token="covenant-demo")
    except CovenantError as exc:
        raise DemoError(str(exc)) from None
    where = hsm.key("model-signing")
    asyncio.run(Pkcs11Signer.generate(where))
    keys = home / "approvers"
    keys.mkdir()
    lines = ['group = "model-risk"', "required = 2", ""]
    for name in APPROVERS:
        signer = LocalKeySigner.generate(keys / f"{name}.pem")
        pem = signer.public_key_pem().decode()
        lines += ["[[approver]]", f'id = "{name}"', f"public_key = '''\n{pem}'''", ""]
    (keys / "approvers.toml").write_text("\n".join(lines))
    policies = home / "policies"
    policies.mkdir()
    built_in = resources.files("covenant.policy") / "policies"
    for name in ("pre_train.toml", "pre_promotion.toml"):
        text = (built_in / name).read_text()
        if name == "pre_promotion.toml":
            text = text.replace("high_risk_families = []", 'high_risk_families = ["digits"]')
        (policies / name).write_text(text)
    uri = (
        f"pkcs11:token={hsm.token};object={where.key}?module-path={hsm.module}"
        f"&pin-source=file:{hsm.pin_file}"
    )
    return {
        "COVENANT_SIGNER": uri,
        "COVENANT_APPROVERS": str(keys / "approvers.toml"),
        "COVENANT_POLICIES": str(policies),
    }


async def _evaluate(platform: Platform, watch: _Watch, source: Path, model_id: str) -> Any:
    data = example_data(source).evaluation_csv(rows=slice(0, None, 5))  # the held-out rows
    await register_csv(platform, watch, data, "digits-test.csv", TEST_SET)
    eval_id = f"eval-{secrets.token_hex(4)}"
    await platform.publish(
        _ask(
            RunEvaluation,
            model_id,
            eval_id=eval_id,
            model_id=model_id,
            test_set_refs=[TEST_SET],
            metrics=MetricsConfig(sensitive_attribute="group"),
        )
    )
    outcome = await watch.first(
        Message,
        lambda m: isinstance(m, EvaluationCompleted | EvaluationFailed) and m.eval_id == eval_id,
        "the evaluation",
    )
    if isinstance(outcome, EvaluationFailed):
        raise DemoError(f"the evaluation failed: {'; '.join(outcome.reasons)}")
    return outcome


def _request(target: Environment, promotion_id: str, model_id: str) -> RequestPromotion:
    return _ask(
        RequestPromotion,
        f"model:{model_id}",
        promotion_id=promotion_id,
        model_id=model_id,
        target=target,
        region="us-east",
        reason="the demo's example flow, step 5",
    )


async def _approve(
    signer: Signer, approver: str, pending: PromotionPending, *, key_id: str | None = None
) -> ApprovePromotion:
    expires_at = datetime.now(UTC) + timedelta(hours=1)
    nonce = secrets.token_hex(16)
    message = approval_message(
        promotion_id=pending.promotion_id,
        request_digest=pending.request_digest,
        approver_id=approver,
        expires_at=expires_at,
        nonce=nonce,
    )
    approval: ApprovePromotion = ApprovePromotion.create(
        subject=f"model:{pending.model_id}",
        actor=approver,
        producer="covenant-demo",
        promotion_id=pending.promotion_id,
        model_id=pending.model_id,
        approver_id=approver,
        key_id=key_id or signer.key_id,
        request_digest=pending.request_digest,
        expires_at=expires_at,
        nonce=nonce,
        signature=await signer.sign(message),
    )
    return approval


async def _promoted(watch: _Watch, promotion_id: str) -> ModelPromoted:
    """The promotion's ``model.promoted``; a DemoError with the reasons if blocked."""
    outcome = await watch.first(
        Message,
        lambda m: (
            isinstance(m, ModelPromoted | PromotionBlocked) and m.promotion_id == promotion_id
        ),
        f"the outcome of {promotion_id}",
    )
    if isinstance(outcome, PromotionBlocked):
        reasons = "; ".join(f"{r.check.value}: {r.message}" for r in outcome.reasons)
        raise DemoError(f"promotion {promotion_id} was blocked: {reasons}")
    assert isinstance(outcome, ModelPromoted)
    return outcome


async def _bundle(platform: Platform, model_id: str, audit_key: bytes) -> bytes:
    """The bundle once a checkpoint covers the version's last promotion event."""
    for _ in range(150):
        try:
            bundle = await provenance_bundle(
                platform.bus, model_id, audit_public_key_pem=audit_key, codec=platform.codec
            )
        except BundleUnavailableError:
            await asyncio.sleep(0.2)
            continue
        if bundle.count(b'"model.promoted"') >= 2:
            return bundle
        await asyncio.sleep(0.2)
    raise DemoError("no audit checkpoint covered the promotion within 30 s")


async def run_promotion(
    platform: Platform,
    source: Path,
    model_id: str,
    audit_key: bytes,
    progress: Callable[[str], None],
) -> PromotionResult:
    """Evaluate, sign, promote to staging and (2 of 3 approvals) prod, bundle, verify."""
    result = PromotionResult()
    home = platform.settings.home
    watch = _PromotionWatch(platform, progress)
    following = asyncio.create_task(watch.follow())
    try:
        progress("evaluation: the trained model on a held-out test set (ONNX Runtime)")
        evaluation = await _evaluate(platform, watch, source, model_id)
        progress("signing: the manifest, through the HSM (PKCS#11, SoftHSM2)")
        await platform.publish(
            _ask(SignManifest, f"model:{model_id}", manifest_id="manifest-1", model_id=model_id)
        )
        signed = await watch.first(ManifestSigned, lambda _: True, "the manifest's signature")
        progress("promotion: to prod straight from the sandbox (must be blocked)")
        await platform.publish(_request(Environment.PROD, "skip-staging", model_id))
        skipped = await watch.first(
            PromotionBlocked, lambda m: m.promotion_id == "skip-staging", "the block"
        )
        progress("promotion: to staging")
        await platform.publish(_request(Environment.STAGING, "to-staging", model_id))
        staged = await _promoted(watch, "to-staging")
        progress("promotion: to prod, which for this high-risk family needs 2 of 3 approvals")
        await platform.publish(_request(Environment.PROD, "to-prod", model_id))
        pending = await watch.first(
            PromotionPending,
            lambda m: m.promotion_id == "to-prod" and m.waiting_for == "approvals",
            "the request for approvals",
        )
        keys = {n: LocalKeySigner(home / "approvers" / f"{n}.pem") for n in APPROVERS}
        await platform.publish(await _approve(keys["ann"], "ann", pending))
        forged = await _approve(keys["cy"], "bob", pending, key_id=keys["bob"].key_id)
        await platform.publish(forged)
        refused = await watch.first(
            ApprovalRefused, lambda m: m.nonce == forged.nonce, "the forged approval's refusal"
        )
        await platform.publish(await _approve(keys["bob"], "bob", pending))
        prod = await _promoted(watch, "to-prod")
        progress("provenance: the offline bundle, once an audit checkpoint covers it")
        bundle = await _bundle(platform, model_id, audit_key)
    finally:
        following.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await following
    path = home / "provenance-bundle.json"
    path.write_bytes(bundle)
    (home / "manifest-signer.pem").write_text(signed.signature.public_key_pem)
    report = verify_bundle(bundle, signed.signature.public_key_pem.encode())
    marked = signed.signature.watermarked_artifact_id
    if marked is not None:  # as a model server would load it (issue 10's servers do)
        model_file = home / "model.watermarked.onnx"
        with model_file.open("wb") as out:
            async for chunk in await platform.blobs.open(marked):
                out.write(chunk)
        check_watermark(
            model_file,
            Envelope.from_bytes(signed.signature.envelope),
            public_key_pem=signed.signature.public_key_pem.encode(),
        )
        result.watermarked = str(model_file)
        result.watermark_checked = True
    result.eval_id = evaluation.eval_id
    result.eval_passed = evaluation.passed
    result.accuracy = evaluation.task.accuracy
    result.gates = {
        g.name: f"{g.value:.3f} vs {g.threshold:g} {'✓' if g.passed else '✗'}"
        for g in evaluation.gates
    }
    for f in evaluation.fairness:
        result.fairness[f"{f.attribute} demographic parity"] = f.demographic_parity_difference
        result.fairness[f"{f.attribute} equalized odds"] = f.equalized_odds_difference
    result.signer_id = signed.signature.signer_id
    result.custody = signed.signature.custody.value
    result.skipped_staging_blocked = [r.message for r in skipped.reasons]
    result.staging = f"{staged.from_status.value} → {staged.to_status.value}"
    result.required_approvals = pending.required_approvals
    result.forged_refused = refused.reason
    result.approved_by = list(prod.approved_by)
    result.prod = f"{prod.from_status.value} → {prod.to_status.value}"
    result.bundle = str(path)
    result.bundle_events = len(report.events)
    result.bundle_verified = True
    return result
