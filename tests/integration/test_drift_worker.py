"""The drift worker on a real log (embedded and Kafka): windows scored in order against
the stored reference, bad samples counted or dead-lettered, a shift alerted with a
retrain proposal that waits for a signed approval, and a safety alert that quarantines
the model and keeps it off every route until enough people sign it off."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from covenant.blobs import open_blobs
from covenant.bus import Bus
from covenant.bus.protocol import Outgoing
from covenant.drift.signoff import signoff_message
from covenant.drift.windows import WindowSpec
from covenant.drift.worker import DriftSettings, make_drift_worker
from covenant.events.base import Message
from covenant.events.deadletter import DeadLettered
from covenant.events.drift import (
    AlertSeverity,
    ApproveRetrain,
    DriftAlerted,
    DriftDecisionRefused,
    DriftFinding,
    DriftScored,
    ObserveOutcome,
    QuarantineApplied,
    QuarantineReleased,
    QuarantineSignedOff,
    Remediation,
    ReportAlert,
    RetrainApproved,
    RetrainProposed,
    SignedDecision,
    SignOffQuarantine,
)
from covenant.events.serving import (
    DeploymentRecorded,
    DeploymentRefused,
    DeploymentStatus,
    RollbackDeployment,
)
from covenant.events.training import SubmitTraining
from covenant.serving.worker import make_serving_worker
from covenant.signing import Signer
from covenant.testing import builders, collect, publish, running
from covenant.topics import (
    ALL_TOPICS,
    DEADLETTER,
    DRIFT_EVENTS,
    DRIFT_SAMPLES,
    SERVE_COMMANDS,
    SERVE_EVENTS,
    TRAIN_COMMANDS,
)
from covenant.training.pools import default_pools
from drift_support import DEPLOY, JOB, MODEL, ROUTE, T0, facts, label, sample, samples
from drift_support import store_reference as stored_reference
from promotion_support import approvers, group

ROWS = 200
SETTINGS = DriftSettings(window=WindowSpec(rows=ROWS), resamples=500)


def of(kind: type[Message], seen: Sequence[Message]) -> list[Any]:
    return [m for m in seen if isinstance(m, kind)]


async def decision(
    signer: Signer, approver: str, subject_id: str, digest: str, nonce: str | None = None
) -> SignedDecision:
    expires = T0 + timedelta(days=3650)
    nonce = nonce or uuid.uuid4().hex
    message = signoff_message(
        subject_id=subject_id,
        request_digest=digest,
        approver_id=approver,
        expires_at=expires,
        nonce=nonce,
    )
    return SignedDecision(
        approver_id=approver,
        key_id=signer.key_id,
        request_digest=digest,
        expires_at=expires,
        nonce=nonce,
        signature=await signer.sign(message),
    )


async def test_windows_bad_samples_a_shift_and_a_retrain_approved_by_a_person(
    bus: Bus, tmp_path: Path
) -> None:
    await bus.ensure_topics(ALL_TOPICS)
    keys = approvers(tmp_path)
    async with open_blobs(f"file://{tmp_path / 'blobs'}") as blobs:
        profile_id = await stored_reference(blobs)
        await publish(bus, *facts(profile_id))
        worker = make_drift_worker(
            blobs=blobs, pools=default_pools(), approvers=group(keys), settings=SETTINGS
        )
        async with running(bus, [worker]):
            # Window 0: clean rows, then garbage of every kind among them.
            first = samples(ROWS, seed=2)
            bad = [sample([float("nan"), 0.0, 0.0, 0.0], 10_000), sample([0.0, 1.0, 2.0], 10_001)]
            await publish(bus, *first[:100], *bad, *first[100:])
            # Labels for window 0's rows: the outcomes arrive once window 0 closed, and
            # are matched to its predictions in window 1.
            await publish(bus, *(label(i, first[i].prediction or "") for i in range(50)))
            await collect(
                bus,
                DRIFT_SAMPLES,
                until=lambda seen: len(of(ObserveOutcome, seen)) == 50,
                timeout_s=60,
            )
            await bus.publish([Outgoing(DRIFT_SAMPLES, ROUTE.encode(), b"\x00not avro")])
            await publish(bus, *samples(ROWS, seed=3, start=ROWS))
            # Window 2: features f1 and f2 moved by one standard deviation.
            await publish(bus, *samples(ROWS, seed=4, start=2 * ROWS, shift=1.0))
            seen = await collect(
                bus, DRIFT_EVENTS, until=lambda s: len(of(DriftFinding, s)) == 1, timeout_s=120
            )
            scored = sorted(of(DriftScored, seen), key=lambda m: m.window)
            assert [m.window for m in scored] == [0, 1, 2]
            assert [m.rows for m in scored] == [ROWS] * 3
            assert scored[0].rejected == {"not_finite": 1, "wrong_feature_count": 1}
            assert [m.drifted for m in scored] == [False, False, True]
            assert {c.column for c in scored[2].columns if c.drifted} >= {"f1", "f2"}
            assert not {c.column for c in scored[2].columns if c.drifted} & {"f0", "f3"}
            for window in scored:
                assert window.reference_profile_id == profile_id
                assert [c.column for c in window.columns] == [
                    "f0",
                    "f1",
                    "f2",
                    "f3",
                    "output:label",
                ]
                for column in window.columns:
                    primary = [s for s in column.statistics if s.primary]
                    assert len(primary) == 1
                    assert primary[0].threshold > 0
                    assert abs(sum(column.current_share) - 1) < 1e-9
            assert scored[0].span.last_offset < scored[1].span.first_offset
            accuracy = [o for o in scored[1].outcomes if o.name == "accuracy"]
            assert accuracy
            assert accuracy[0].trials == 50
            assert accuracy[0].current == 1.0
            assert not accuracy[0].drifted

            (alert,) = of(DriftAlerted, seen)
            assert (alert.severity, alert.remediation) == (AlertSeverity.DRIFT, Remediation.RETRAIN)
            assert alert.windows == [2]
            assert set(alert.features) >= {"f1", "f2"}
            (proposal,) = of(RetrainProposed, seen)
            assert proposal.lineage.parent_model_id == MODEL
            assert proposal.lineage.parent_job_id == JOB
            assert (proposal.lineage.parent_datasets, proposal.lineage.datasets) == (["d1"], ["d2"])
            assert proposal.request.dataset_refs == ["d2"]
            assert proposal.request.target is not None
            assert proposal.request.target.version == "1.1.0"
            assert proposal.quota is not None
            assert proposal.quota.fits
            assert proposal.cost is not None
            assert proposal.cost.hours == 0.5
            (finding,) = of(DriftFinding, seen)
            assert finding.scored_event_ids == [scored[2].meta.event_id]
            assert finding.remediation_event_id == proposal.meta.event_id
            assert finding.reference_profile_id == profile_id
            dead = of(DeadLettered, await collect(bus, DEADLETTER))
            assert [d.original for d in dead] == [b"\x00not avro"]

            # Nothing is trained before a person approves; a forged approval is refused.
            assert not of(SubmitTraining, await collect(bus, TRAIN_COMMANDS))
            forged = await decision(
                keys["bob"], "ann", proposal.proposal_id, proposal.request_digest
            )
            honest = await decision(
                keys["ann"], "ann", proposal.proposal_id, proposal.request_digest
            )
            for signed in (forged, honest, honest):
                await publish(bus, approve(proposal.proposal_id, signed))
            seen = await collect(
                bus, DRIFT_EVENTS, until=lambda s: len(of(DriftDecisionRefused, s)) == 2
            )
            (approved,) = of(RetrainApproved, seen)
            assert approved.approver_id == "ann"
            refused = [r.code for r in of(DriftDecisionRefused, seen)]
            assert sorted(refused) == ["already_approved", "approval_refused"]
            (submitted,) = of(SubmitTraining, await collect(bus, TRAIN_COMMANDS))
            assert submitted.job_id == approved.job_id == proposal.request.job_id
            assert submitted.dataset_refs == ["d2"]
            assert submitted.meta.actor == "ann"


@pytest.mark.parametrize("bus_url", ["sqlite"], indirect=True)
async def test_with_two_windows_needed_a_lone_drifted_window_raises_nothing(
    bus: Bus, tmp_path: Path
) -> None:
    await bus.ensure_topics(ALL_TOPICS)
    async with open_blobs(f"file://{tmp_path / 'blobs'}") as blobs:
        profile_id = await stored_reference(blobs)
        await publish(bus, *facts(profile_id))
        worker = make_drift_worker(
            blobs=blobs,
            pools=default_pools(),
            approvers=group(approvers(tmp_path)),
            settings=DriftSettings(window=WindowSpec(rows=ROWS), resamples=500, alert_windows=2),
        )
        async with running(bus, [worker]):
            # windows 0 and 2 clean (seeds the first test saw pass), 1, 3 and 4 shifted:
            # only 3-4 is a run of two
            plan = ((2, 0.0), (4, 1.0), (3, 0.0), (5, 1.0), (6, 1.0))
            for window, (seed, shift) in enumerate(plan):
                rows = samples(ROWS, seed=seed, start=window * ROWS, shift=shift)
                await publish(bus, *rows)
            seen = await collect(
                bus, DRIFT_EVENTS, until=lambda s: len(of(DriftFinding, s)) == 1, timeout_s=120
            )
    scored = sorted(of(DriftScored, seen), key=lambda m: m.window)
    assert [m.drifted for m in scored] == [False, True, False, True, True]
    (alert,) = of(DriftAlerted, seen)
    assert alert.windows == [3, 4]
    assert alert.reason.startswith(f"windows 3-4 of {DEPLOY} drifted")
    (finding,) = of(DriftFinding, seen)
    assert finding.scored_event_ids == [scored[3].meta.event_id, scored[4].meta.event_id]
    assert len(of(RetrainProposed, seen)) == 1


def refused_for(seen: Sequence[Message], deploy_id: str) -> DeploymentRefused | None:
    return next((m for m in of(DeploymentRefused, seen) if m.deploy_id == deploy_id), None)


def approve(proposal_id: str, signed: SignedDecision) -> ApproveRetrain:
    return ApproveRetrain.create(
        subject=f"route:{ROUTE}",
        actor=signed.approver_id,
        producer="cli",
        proposal_id=proposal_id,
        route=ROUTE,
        decision=signed,
    )


def signoff(quarantine_id: str, signed: SignedDecision) -> SignOffQuarantine:
    return SignOffQuarantine.create(
        subject=f"route:{ROUTE}",
        actor=signed.approver_id,
        producer="cli",
        quarantine_id=quarantine_id,
        route=ROUTE,
        decision=signed,
    )


@pytest.mark.parametrize("bus_url", ["sqlite"], indirect=True)
async def test_a_safety_alert_quarantines_until_two_people_sign_off(
    bus: Bus, tmp_path: Path
) -> None:
    await bus.ensure_topics(ALL_TOPICS)
    keys = approvers(tmp_path)
    async with open_blobs(f"file://{tmp_path / 'blobs'}") as blobs:
        profile_id = await stored_reference(blobs)
        # Its promotion to prod needed two approvals: so does its release.
        pending = builders.promotion_pending(model_id=MODEL, required_approvals=2)
        # The last good version it replaced, for the quarantine to send traffic back to.
        prior = builders.deployment_record(
            "vit:0.9.0", deploy_id="deploy-0", status=DeploymentStatus.SUPERSEDED
        )
        serving = builders.deployment_record(MODEL, deploy_id=DEPLOY).model_copy(
            update={"replaces": "deploy-0"}
        )
        await publish(
            bus,
            *facts(profile_id),
            pending,
            builders.model_registered("vit:0.9.0"),
            builders.deployment_recorded(prior),
            builders.deployment_recorded(serving),
        )
        drift = make_drift_worker(
            blobs=blobs, pools=default_pools(), approvers=group(keys), settings=SETTINGS
        )
        async with running(bus, [drift, make_serving_worker()]):
            report = ReportAlert.create(
                subject=f"route:{ROUTE}",
                actor="monitoring",
                producer="gateway",
                alert_id="ext-1",
                route=ROUTE,
                model_id=MODEL,
                severity=AlertSeverity.SAFETY,
                reason="toxic answers reported by the trust and safety team",
                source="trust-and-safety",
            )
            await publish(bus, report, report)  # a repeat changes nothing
            seen = await collect(bus, DRIFT_EVENTS, until=lambda s: bool(of(DriftFinding, s)))
            (quarantine,) = of(QuarantineApplied, seen)
            assert quarantine.required_signoffs == 2
            assert quarantine.deploy_id == DEPLOY
            (alert,) = of(DriftAlerted, seen)
            assert alert.remediation is Remediation.QUARANTINE
            assert alert.source == "trust-and-safety"
            rollback = of(RollbackDeployment, await collect(bus, SERVE_COMMANDS))
            assert [r.deploy_id for r in rollback] == [DEPLOY]

            # Deploying it again is refused while it is quarantined.
            await publish(bus, builders.deploy_model(MODEL, deploy_id="again-1"))
            events = await collect(
                bus, SERVE_EVENTS, until=lambda s: refused_for(s, "again-1") is not None
            )
            refusal = refused_for(events, "again-1")
            assert refusal is not None
            assert refusal.code == "quarantined"
            assert quarantine.quarantine_id in refusal.reason

            qid, digest = quarantine.quarantine_id, quarantine.request_digest
            ann = await decision(keys["ann"], "ann", qid, digest)
            for signed in (ann, ann, await decision(keys["bob"], "bob", qid, digest)):
                await publish(bus, signoff(qid, signed))
            seen = await collect(bus, DRIFT_EVENTS, until=lambda s: bool(of(QuarantineReleased, s)))
            assert [m.signoffs for m in of(QuarantineSignedOff, seen)] == [1, 2]
            assert [r.code for r in of(DriftDecisionRefused, seen)] == ["signoff_refused"]
            (released,) = of(QuarantineReleased, seen)
            assert sorted(released.approvers) == ["ann", "bob"]

            await publish(bus, builders.deploy_model(MODEL, deploy_id="again-2"))
            events = await collect(
                bus,
                SERVE_EVENTS,
                until=lambda s: (
                    refused_for(s, "again-2") is not None
                    or any(m.record.deploy_id == "again-2" for m in of(DeploymentRecorded, s))
                ),
            )
            after = refused_for(events, "again-2")
            assert after is None or after.code != "quarantined", after
