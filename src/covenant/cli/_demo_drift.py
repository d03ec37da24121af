"""The demo's drift step (the spec's step 6): the clients' images get brighter on two
pixels; the prod servers' samples show it, the drift worker scores the windows
against the version's reference profile (kept by its evaluation), alerts, and
proposes a retrain on the fresh data registered since, with its lineage, a quota
check and a cost estimate. Nothing trains until a person approves: the demo checks
that, then signs an approval with an approver's own key; the worker submits the
prepared request, the platform trains, evaluates, signs and promotes the new version
as it did the others, and it is canaried in prod under the shifted traffic.

The shift is +6 of 16 on pixels 20 and 43 (clipped at 16), about 0.7 standard
deviations each: large enough to be seen in a 200-row window at a 5 % false-alarm
rate per window over all 65 columns, and small enough that the digits still read.
The fresh training data is the digits with the same shift (what a team would
collect from production), registered as derived from ``digits:v1``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from covenant.cli._demo_canary import _Load, _rollout
from covenant.cli._demo_example import DemoError, example_data
from covenant.cli._demo_promotion import APPROVERS, TEST_SET
from covenant.cli._demo_training import DATASET, _Watch, register_csv
from covenant.cli._demo_versions import _promote
from covenant.drift.signoff import signoff_message
from covenant.events.datasets import Transformation
from covenant.events.drift import (
    ApproveRetrain,
    DriftAlerted,
    DriftScored,
    Remediation,
    RetrainApproved,
    RetrainProposed,
    SignedDecision,
)
from covenant.events.registry import ModelRegistered
from covenant.events.serving import DeploymentStatus
from covenant.events.training import TrainingQueued
from covenant.platform import Platform
from covenant.signing import LocalKeySigner
from covenant.topics import (
    ARTIFACT_EVENTS,
    DATASET_EVENTS,
    DRIFT_EVENTS,
    EVAL_EVENTS,
    FINANCE_EVENTS,
    MODEL_EVENTS,
    PROMOTION_EVENTS,
    SERVE_EVENTS,
    TRAIN_EVENTS,
    Topic,
)

__all__ = ["DRIFTED_PIXELS", "DriftResult", "run_drift"]

DRIFTED_PIXELS = (20, 43)
_SHIFT = 6  # of 16
FRESH, FRESH_TEST = "digits:v2", "digits-test:v2"


@dataclass
class DriftResult:
    """What the drift step did, for the terminal and for ``--json``."""

    shift: str = ""
    windows: list[str] = field(default_factory=list)
    alert: str = ""
    proposal: str = ""
    lineage: str = ""
    cost: str = ""
    quota: str = ""
    untrained_before_approval: bool = False
    approved_by: str = ""
    retrained: str = ""
    canary: str = ""
    canary_percent: int = 0
    report: str = ""


class _DriftWatch(_Watch):
    TOPICS: tuple[Topic, ...] = (
        ARTIFACT_EVENTS,
        DATASET_EVENTS,
        TRAIN_EVENTS,
        MODEL_EVENTS,
        FINANCE_EVENTS,
        EVAL_EVENTS,
        PROMOTION_EVENTS,
        SERVE_EVENTS,
        DRIFT_EVENTS,
    )


def shifted(pixels: list[float]) -> list[float]:
    """Scaled 0-1 pixels as the clients now send them."""
    out = list(pixels)
    for i in DRIFTED_PIXELS:
        out[i] = min(1.0, out[i] + _SHIFT / 16)
    return out


def _shift_training(csv: bytes) -> bytes:
    """``label,p0..p63`` with integer pixels: the same shift, in 0-16."""
    header, *rows = csv.decode("ascii").splitlines()
    lines = [header]
    for row in rows:
        cells = row.split(",")
        for i in DRIFTED_PIXELS:
            cells[1 + i] = str(min(16, int(cells[1 + i]) + _SHIFT))
        lines.append(",".join(cells))
    return ("\n".join(lines) + "\n").encode("ascii")


def _shift_test(csv: bytes) -> bytes:
    """``p0..p63,label,group`` scaled 0-1: the same shift."""
    header, *rows = csv.decode("ascii").splitlines()
    lines = [header]
    for row in rows:
        cells = row.split(",")
        pixels = shifted([float(c) for c in cells[:64]])
        lines.append(",".join([*(repr(p) for p in pixels), *cells[64:]]))
    return ("\n".join(lines) + "\n").encode("ascii")


async def _register_fresh(platform: Platform, watch: _Watch, source: Path, code_ref: str) -> None:
    data = example_data(source)
    test = _shift_test(data.evaluation_csv(rows=slice(0, None, 5)))
    # The test set descends from the old test set, not from digits:v1: a retrain takes
    # the newest data descending from what its parent trained on.
    for csv, name, dataset_id, parent in (
        (test, "digits-test-v2.csv", FRESH_TEST, TEST_SET),
        (_shift_training(data.digits_csv()), "digits-v2.csv", FRESH, DATASET),
    ):
        step = Transformation(
            name="collected-from-production",
            code_ref=code_ref,
            checksum=f"sha256:{hashlib.sha256(csv).hexdigest()}",
        )
        await register_csv(platform, watch, csv, name, dataset_id, step, source_refs=(parent,))


async def _approval(platform: Platform, approver: str, proposal: RetrainProposed) -> ApproveRetrain:
    key = LocalKeySigner(platform.settings.home / "approvers" / f"{approver}.pem")
    expires_at = datetime.now(UTC) + timedelta(hours=1)
    nonce = secrets.token_hex(16)
    message = signoff_message(
        subject_id=proposal.proposal_id,
        request_digest=proposal.request_digest,
        approver_id=approver,
        expires_at=expires_at,
        nonce=nonce,
    )
    decision = SignedDecision(
        approver_id=approver,
        key_id=key.key_id,
        request_digest=proposal.request_digest,
        expires_at=expires_at,
        nonce=nonce,
        signature=await key.sign(message),
    )
    approval: ApproveRetrain = ApproveRetrain.create(
        subject=f"route:{proposal.route}",
        actor=approver,
        producer="covenant-demo",
        proposal_id=proposal.proposal_id,
        route=proposal.route,
        decision=decision,
    )
    return approval


def _window_line(scored: DriftScored) -> str:
    drifted = [
        f"{c.column} ({p.name} {p.value:.3g} > {p.threshold:.3g})"
        for c in scored.columns
        if c.drifted
        for p in c.statistics
        if p.primary
    ]
    return f"window {scored.window} of {scored.deploy_id}, {scored.rows} rows: " + (
        ", ".join(drifted) if drifted else "no drift"
    )


async def _report(platform: Platform, model_id: str) -> Path:
    """What ``covenant drift report MODEL -o drift-report.html`` draws, from the log."""
    from covenant.cli._drift_live_report import render_html
    from covenant.gateway.drift import DriftView

    view = DriftView(bus=platform.bus, codec=platform.codec)
    await view.start()
    try:
        doc = await view.model(model_id, limit=100)
    finally:
        await view.stop()
    if doc is None:
        raise DemoError(f"no drift recorded for {model_id}")
    path = platform.settings.home / "drift-report.html"
    path.write_text(render_html(doc), encoding="utf-8")
    return path


async def run_drift(
    platform: Platform,
    router: str,
    model_id: str,
    deploy_id: str,
    source: Path,
    code_ref: str,
    progress: Callable[[str], None],
) -> DriftResult:
    """Shift the traffic to ``deploy_id`` (serving ``model_id`` on route digits) and
    follow drift from the first scored window to the retrained version's canary."""
    result = DriftResult(
        shift=f"+{_SHIFT}/16 on pixels {', '.join(f'p{i}' for i in DRIFTED_PIXELS)}"
    )
    watch = _DriftWatch(platform, progress)
    following = asyncio.create_task(watch.follow())
    load, stop = _Load(router, transform=shifted), asyncio.Event()
    clients: asyncio.Task[None] | None = None
    try:
        progress("drift: registering the fresh data collected since (digits:v2)")
        await _register_fresh(platform, watch, source, code_ref)
        started = datetime.now(UTC)
        clients = asyncio.create_task(load.run(stop))
        progress(f"drift: the clients' images shift ({result.shift}); waiting for the alert")
        alert = await watch.first(
            DriftAlerted,
            lambda a: (
                a.model_id == model_id
                and a.deploy_id == deploy_id
                and a.remediation is Remediation.RETRAIN
            ),
            f"a drift alert on {deploy_id}",
        )
        await watch.first(
            DriftScored,
            lambda s: s.deploy_id == deploy_id and s.opened_at >= started and s.drifted,
            "a window of shifted traffic scored",
        )
        scored = [s for s in watch.all(DriftScored) if s.deploy_id == deploy_id]
        shown = [s for s in scored if s.window in alert.windows or s.opened_at >= started]
        result.windows = [_window_line(s) for s in shown][:3]
        result.alert = f"{alert.alert_id} ({alert.severity}): {alert.reason}"
        proposal = await watch.first(
            RetrainProposed, lambda p: p.model_id == model_id, "the retrain proposal"
        )
        result.proposal = (
            f"{proposal.proposal_id}: job {proposal.request.job_id} on "
            f"{', '.join(proposal.request.dataset_refs)} → "
            f"{proposal.request.target.family}:{proposal.request.target.version}"
            if proposal.request.target is not None
            else proposal.proposal_id
        )
        lineage = proposal.lineage
        result.lineage = (
            f"from {lineage.parent_model_id} (job {lineage.parent_job_id}, trained on "
            f"{', '.join(lineage.parent_datasets)}); fresh data {', '.join(lineage.datasets)}; "
            f"alert {lineage.alert_id}, windows {lineage.windows}"
        )
        if proposal.cost is not None:
            c = proposal.cost
            result.cost = f"{c.cost} {c.currency} for {c.hours:g} h on {c.pool} ({c.basis})"
        if proposal.quota is not None:
            result.quota = f"{'fits' if proposal.quota.fits else 'OVER'}: {proposal.quota.detail}"
        await asyncio.sleep(1.0)  # long enough for a premature training to show
        job_id = proposal.request.job_id
        result.untrained_before_approval = not watch.all(TrainingQueued, job=job_id)
        if not result.untrained_before_approval:
            raise DemoError(f"{job_id} was queued before anyone approved it")
        approver = APPROVERS[0]
        progress(f"drift: {approver} approves {proposal.proposal_id} with their own key")
        await platform.publish(await _approval(platform, approver, proposal))
        approved = await watch.first(
            RetrainApproved, lambda a: a.proposal_id == proposal.proposal_id, "the approval"
        )
        result.approved_by = f"{approved.approver_id} (signed, checked against the approvers file)"
        target = proposal.request.target
        new_id = f"{target.family}:{target.version}" if target else ""
        registered = await watch.first(
            ModelRegistered, lambda m: m.entry.model_id == new_id, f"{new_id}'s training"
        )
        progress(f"drift: {new_id} trained; evaluating, signing, promoting it")
        await _promote(platform, watch, registered.entry.model_id, FRESH_TEST)
        result.retrained = f"{new_id} trained by {job_id}, evaluated on {FRESH_TEST}, promoted"
        record = (await _rollout(platform, watch, load, "prod-4", new_id, progress)).record
        if record.status is not DeploymentStatus.SERVING:
            raise DemoError(f"the retrained version's canary did not pass: {record.reason}")
        result.canary = f"prod-4 serving {new_id} on route digits"
        result.canary_percent = record.traffic_percent
        if load.failed:
            raise DemoError(f"clients failed during the drift step: {load.failed[:3]}")
        result.report = str(await _report(platform, model_id))
    finally:
        stop.set()
        if clients is not None:
            await clients
        following.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await following
    return result
