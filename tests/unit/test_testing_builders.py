"""``covenant.testing``'s clocks, ids and builders: what users build their tests on."""

from __future__ import annotations

import dataclasses
import inspect
import re
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import covenant.testing
from covenant.catalog.decisions import SHA256_ID
from covenant.events.artifacts import ArtifactStored, RecordArtifact
from covenant.events.base import Message
from covenant.events.catalog import MESSAGE_TYPES
from covenant.events.contract import default_codec
from covenant.events.datasets import (
    DatasetCleared,
    DatasetRegistered,
    DatasetRejected,
    ProvenanceReview,
    TrainingClearance,
)
from covenant.events.refusals import Refusal, RefusalCode
from covenant.events.registry import ModelRegistered, ModelRejected, RegisterModel
from covenant.events.training import RunReportKind
from covenant.platform import build_workers
from covenant.runtime.worker import Context, Worker
from covenant.testing import FrozenClock, ManualClock, SequentialIds, builders
from covenant.topics import DATASET_COMMANDS

T0 = datetime(2025, 6, 1, 12, 0, 0, 250000, tzinfo=UTC)
CODEC = default_codec()


def builder_name(cls: type[Message]) -> str:
    """``RegisterModel`` → ``register_model``: the builders' naming rule."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()


@pytest.mark.parametrize("cls", MESSAGE_TYPES, ids=lambda c: c.TYPE)
def test_every_message_type_has_a_builder_whose_record_roundtrips(cls: type[Message]) -> None:
    """A new message type without a builder fails here, by name."""
    build = getattr(builders, builder_name(cls), None)
    assert build is not None, f"covenant.testing.builders has no {builder_name(cls)}()"
    assert builder_name(cls) in builders.__all__
    message = build(clock=FrozenClock(T0), ids=SequentialIds(), actor="tester")
    assert type(message) is cls
    assert (message.meta.type, message.meta.actor) == (cls.TYPE, "tester")
    assert (message.meta.occurred_at, message.meta.event_id) == (T0, SequentialIds.id_of(1))
    assert message.meta.correlation_id == message.meta.event_id  # a flow of its own
    data = CODEC.encode(message)
    assert CODEC.decode(data) == message
    assert CODEC.outgoing(message).key == message.meta.subject.encode()


def test_the_public_names_are_pinned() -> None:
    assert covenant.testing.__all__ == [
        "FrozenClock",
        "ManualClock",
        "SequentialIds",
        "builders",
        "collect",
        "drain",
        "embedded_log",
        "publish",
        "running",
        "wait_for",
    ]
    assert builders.__all__ == [
        "ACTOR",
        "Meta",
        "allocation_denied",
        "allocation_freed",
        "allocation_granted",
        "allocation_queued",
        "allocation_released",
        "allocation_requested",
        "approval_accepted",
        "approval_refused",
        "approve_dataset",
        "approve_promotion",
        "approve_retrain",
        "arm_samples",
        "artifact_rejected",
        "artifact_stored",
        "canary_analysed",
        "cancel_training",
        "chargeback_recorded",
        "checkpoint_id",
        "checkpoint_signed",
        "column_drift",
        "dataset_cleared",
        "dataset_registered",
        "dataset_rejected",
        "dead_lettered",
        "demote_model",
        "deploy_model",
        "deployment_record",
        "deployment_recorded",
        "deployment_refused",
        "deprecate_model",
        "drift_alerted",
        "drift_decision_refused",
        "drift_finding",
        "drift_scored",
        "drift_window_opened",
        "evaluation_completed",
        "evaluation_failed",
        "expire_promotion",
        "expire_training",
        "leaf",
        "leaves_appended",
        "lifecycle_refused",
        "manifest_refused",
        "manifest_signature",
        "manifest_signed",
        "matched_rule",
        "model_demoted",
        "model_deprecated",
        "model_output_id",
        "model_promoted",
        "model_registered",
        "model_rejected",
        "observe_canary",
        "observe_label",
        "observe_load",
        "observe_outcome",
        "observe_replicas",
        "observe_sample",
        "policy_decided",
        "profile_id",
        "promotion_blocked",
        "promotion_pending",
        "promotion_reason",
        "quarantine_applied",
        "quarantine_released",
        "quarantine_signed_off",
        "record_artifact",
        "register_dataset",
        "register_model",
        "report_alert",
        "report_run",
        "request_policy",
        "request_promotion",
        "retrain_approved",
        "retrain_proposed",
        "retrain_request",
        "rollback_deployment",
        "run_evaluation",
        "run_record",
        "scale_decided",
        "scale_deployment",
        "sha",
        "sign_manifest",
        "sign_off_quarantine",
        "signed_decision",
        "split_code_ref",
        "split_model_id",
        "start_run",
        "stop_run",
        "submit_training",
        "traffic_shifted",
        "training_allocated",
        "training_cancelled",
        "training_checkpointed",
        "training_cleared",
        "training_completed",
        "training_failed",
        "training_job",
        "training_preempted",
        "training_queued",
        "training_rejected",
        "training_reproduced",
        "training_resumed",
        "training_started",
        "transformation",
        "usage_recorded",
    ]
    assert builders.__all__ == sorted(builders.__all__)
    for module in (covenant.testing, builders):
        assert all(hasattr(module, name) for name in module.__all__)
    assert set(builders.__all__) >= {builder_name(cls) for cls in MESSAGE_TYPES}


def test_no_message_field_is_named_like_a_create_keyword() -> None:
    """``Message.create`` takes the body as ``**body``: a field called ``clock`` (or
    ``subject``, ...) would silently be taken as the keyword instead."""
    keywords = {
        name
        for name, p in inspect.signature(Message.create).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }
    assert {"clock", "ids", "subject", "actor", "producer"} <= keywords
    for cls in MESSAGE_TYPES:
        assert not (set(cls.model_fields) & keywords), cls.__name__


def test_create_stamps_the_time_and_id_it_is_given() -> None:
    clock, ids = ManualClock(T0), SequentialIds(start=41)
    first: ArtifactStored = builders.artifact_stored(clock=clock, ids=ids)
    clock.advance(1.5)
    second: RecordArtifact = RecordArtifact.create(
        subject="s", actor="a", producer="p", clock=clock, ids=ids,
        name="x", media_type="m", claimed_sha256="0" * 64, size_bytes=0, blob_uri="u",
    )  # fmt: skip
    assert first.meta.occurred_at == T0
    assert second.meta.occurred_at == T0 + timedelta(seconds=1.5)
    assert [first.meta.event_id, second.meta.event_id] == [
        SequentialIds.id_of(41),
        SequentialIds.id_of(42),
    ]


def test_create_defaults_to_the_system_clock_and_uuid7() -> None:
    before = datetime.now(UTC)
    message: RecordArtifact = builders.record_artifact()
    assert uuid.UUID(message.meta.event_id).version == 7
    assert message.meta.occurred_at.tzinfo is UTC
    assert message.meta.occurred_at >= before


def test_a_context_emits_with_its_clock_and_ids() -> None:
    clock, ids = FrozenClock(T0), SequentialIds()
    cause = builders.register_dataset(idempotency_key="req-1", clock=clock, ids=ids)
    ctx = Context(worker="datasets", cause=cause, clock=clock, ids=ids)
    event = ctx.emit(DatasetCleared, dataset_id="d1", approved_by="dpo", reason="ok")
    assert ctx.emitted == [event]
    assert (event.meta.event_id, event.meta.occurred_at) == (SequentialIds.id_of(2), T0)
    assert event.meta.causation_id == cause.meta.event_id
    assert event.meta.correlation_id == cause.meta.correlation_id
    assert event.meta.idempotency_key == "req-1"
    system = Context(worker="datasets", cause=cause)  # no clock given: the system's
    later = system.emit(DatasetCleared, dataset_id="d1", approved_by="dpo", reason="ok")
    assert uuid.UUID(later.meta.event_id).version == 7
    assert later.meta.occurred_at > T0


def test_sequential_ids_are_ordered_valid_uuid7_strings() -> None:
    ids = SequentialIds()
    made = [ids.new_id() for _ in range(300)]
    assert made[0] == "01941f29-7c00-7000-8000-000000000001"
    assert made == sorted(made)  # the read store keeps the smallest id as the earliest
    assert len(set(made)) == len(made)
    for text in made:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122)
        assert str(parsed) == text  # canonical: 36 lower-case characters
    assert SequentialIds(start=7).new_id() == SequentialIds.id_of(7)
    assert SequentialIds.id_of(2**62 - 1).endswith("bfff-ffffffffffff")
    with pytest.raises(OverflowError):
        SequentialIds.id_of(2**62)
    with pytest.raises(ValueError, match="start"):
        SequentialIds(start=-1)


def test_a_manual_clock_moves_only_when_told() -> None:
    clock = ManualClock(T0)
    assert clock.now() == clock.now() == T0
    assert clock.advance(0.000001) == T0 + timedelta(microseconds=1)
    assert clock.advance() == T0 + timedelta(seconds=1, microseconds=1)
    clock.set(T0 - timedelta(days=1))  # back in time, on purpose
    assert clock.now() == T0 - timedelta(days=1)
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.set(datetime(2025, 1, 1))  # naive, on purpose
    assert ManualClock().now() == datetime(2025, 1, 1, tzinfo=UTC)


def test_a_frozen_clock_is_utc_and_immutable() -> None:
    tokyo = datetime(2025, 6, 1, 21, 0, 0, 250000, tzinfo=timezone(timedelta(hours=9)))
    clock = FrozenClock(tokyo)
    assert clock.now() == T0
    assert clock.now().tzinfo is UTC
    with pytest.raises(dataclasses.FrozenInstanceError):
        clock.at = T0  # type: ignore[misc]
    with pytest.raises(ValueError, match="timezone-aware"):
        FrozenClock(datetime(2025, 1, 1))  # naive, on purpose


async def run(worker: Worker, message: Message) -> list[Message]:
    ctx = Context(worker=worker.name, cause=message)
    await worker.handle(message, ctx)
    return ctx.emitted


def worker_knowing(name: str, *facts: Message) -> Worker:
    (worker,) = build_workers([name])
    assert worker.state is not None
    for fact in facts:
        worker.state.apply(fact)
    return worker


async def test_the_command_defaults_are_what_the_workers_accept() -> None:
    """The defaults line up: a dataset's and a model's bytes are the stored
    artifacts of the same name, and the lineage names what is registered."""
    assert SHA256_ID.match(builders.sha("d1"))
    datasets = worker_knowing("datasets", builders.artifact_stored("d1"))
    (dataset,) = await run(datasets, builders.register_dataset("d1"))
    assert isinstance(dataset, DatasetRegistered)
    assert dataset.clearance is TrainingClearance.ALLOWED
    assert dataset.lineage.checksum == builders.sha("d1")

    registry = worker_knowing("registry", builders.artifact_stored("weights vit:1.0.0"), dataset)
    (model,) = await run(registry, builders.register_model("vit:1.0.0", datasets=["d1"]))
    assert isinstance(model, ModelRegistered), model
    assert registry.state is not None
    registry.state.apply(model)
    (dup,) = await run(registry, builders.register_model("vit:1.0.0"))
    assert isinstance(dup, ModelRejected)
    assert [r.code for r in dup.refusals] == [RefusalCode.CONFLICT]


async def test_dataset_registered_says_what_the_datasets_worker_would() -> None:
    """Its block reasons come from the worker's own rule, so they cannot drift."""
    cases: list[dict[str, Any]] = [
        {"pii": True},
        {"pii_flags": ["email", "phone"]},
        {"provenance_review": ProvenanceReview.PENDING},
        {},
    ]
    for overrides in cases:
        worker = worker_knowing("datasets", builders.artifact_stored("d1"))
        (real,) = await run(worker, builders.register_dataset("d1", **overrides))
        built = builders.dataset_registered("d1", **overrides)
        assert isinstance(real, DatasetRegistered)
        assert (built.clearance, built.block_reasons) == (real.clearance, real.block_reasons)
        assert built.lineage.pii_flags == real.lineage.pii_flags
    assert builders.dataset_registered(pii=True).block_reasons == [
        "flagged for PII (email); needs approval"
    ]


def test_rejections_keep_reasons_and_refusals_consistent() -> None:
    by_reason = builders.model_rejected("vit:2.0", reasons=["a", "b"], code=RefusalCode.CONFLICT)
    assert (by_reason.family, by_reason.version) == ("vit", "2.0")
    assert by_reason.reasons == ["a", "b"]
    assert [(r.code, r.message) for r in by_reason.refusals] == [
        (RefusalCode.CONFLICT, "a"),
        (RefusalCode.CONFLICT, "b"),
    ]
    why = [Refusal(code=RefusalCode.NOT_FOUND, field="datasetId", message="no such dataset")]
    by_refusal: DatasetRejected = builders.dataset_rejected("d9", refusals=why)
    assert (by_refusal.reasons, by_refusal.refusals) == (["no such dataset"], why)
    older = builders.dataset_rejected(reasons=["x"], refusals=[])  # an older writer's event
    assert (older.reasons, older.refusals) == (["x"], [])
    artifact = builders.artifact_rejected(
        refusals=[Refusal(code=RefusalCode.INVALID, message=m) for m in ("size", "hash")]
    )
    assert artifact.reason == "size; hash"
    (default,) = builders.model_rejected().refusals
    assert default.code is RefusalCode.INVALID


def test_caused_by_links_a_record_to_its_cause_like_a_worker() -> None:
    command = builders.register_model(actor="bob", idempotency_key="k-1")
    event = builders.model_registered(caused_by=command)
    assert event.meta.causation_id == command.meta.event_id
    assert event.meta.correlation_id == command.meta.correlation_id
    assert (event.meta.actor, event.meta.idempotency_key) == ("bob", "k-1")
    assert event.entry.created_by == "bob"
    assert event.meta.producer == "registry"
    explicit = builders.model_registered(caused_by=command, actor="carol", correlation_id=None)
    assert (explicit.meta.actor, explicit.meta.correlation_id) == ("carol", explicit.meta.event_id)


def test_builders_refuse_misspelt_keywords_and_bare_strings() -> None:
    kwargs: dict[str, Any] = {"acter": "bob"}
    with pytest.raises(TypeError, match="acter"):
        builders.dataset_cleared(**kwargs)
    with pytest.raises(TypeError, match="datasets"):
        builders.register_model(datasets="d1")  # a str is a Sequence[str]
    with pytest.raises(ValueError, match="family:version"):
        builders.model_registered("vit-1.0.0")


def test_a_dead_letter_of_a_message_keeps_its_bytes_and_position() -> None:
    command: RegisterModel = builders.register_model()
    letter = builders.dead_lettered(command, source_partition=2, source_offset=9, attempts=5)
    assert CODEC.decode(letter.original) == command
    assert (letter.source_topic, letter.original_key) == ("covenant.cmd.model", b"model:vit:1.0.0")
    assert letter.meta.subject == "covenant.cmd.model/2/9"
    assert (letter.meta.actor, letter.meta.producer) == ("covenant", "registry")
    raw = builders.dead_lettered(b"\x00junk", source_topic=DATASET_COMMANDS.name)
    assert (raw.original, raw.original_key, raw.source_topic) == (
        b"\x00junk",
        None,
        DATASET_COMMANDS.name,
    )


def test_artifact_defaults_agree_with_their_bytes() -> None:
    stored = builders.artifact_stored("model.onnx", content=b"\x01\x02\x03")
    assert (stored.artifact_id, stored.size_bytes) == (builders.sha(b"\x01\x02\x03"), 3)
    claim = builders.record_artifact("model.onnx", content=b"\x01\x02\x03")
    assert f"sha256:{claim.claimed_sha256}" == stored.artifact_id == claim.meta.subject
    assert builders.artifact_stored("d1").size_bytes == len(b"d1")


def test_the_training_defaults_line_up() -> None:
    """A job's builders agree: the queued job is the submitted one, its checksums
    are the registered datasets', and a run's reports match the job's events."""
    clock = FrozenClock(T0)
    submit = builders.submit_training(hyperparams={"lr": 0.01, "opt": "adam"}, clock=clock)
    queued = builders.training_queued(hyperparams={"lr": 0.01, "opt": "adam"}, clock=clock)
    job = queued.job
    assert submit.hyperparams == job.hyperparams == {"lr": "0.01", "opt": '"adam"'}
    assert submit.code_ref == f"{job.code_repo}#{job.code_commit}"
    assert re.fullmatch(r"[0-9a-f]{40}", job.code_commit)
    assert (job.dataset_refs, job.team, job.created_at) == (submit.dataset_refs, "vision", T0)
    registered = builders.dataset_registered("d1")
    assert job.dataset_checksums == {"d1": registered.lineage.checksum}
    (fetched,) = builders.start_run().datasets
    assert (fetched.artifact_id, fetched.checksum) == (
        builders.artifact_stored("d1").artifact_id,
        registered.lineage.checksum,
    )
    succeeded = builders.report_run(kind=RunReportKind.SUCCEEDED)
    completed = builders.training_completed()
    assert succeeded.outputs == {a.path: a.artifact_id for a in completed.artifacts}
    assert succeeded.record == completed.record == builders.run_record()
    checkpoint = builders.report_run(kind=RunReportKind.CHECKPOINT)
    assert checkpoint.artifact_id == builders.training_checkpointed().artifact_id
    assert {m.meta.subject for m in (submit, queued, succeeded, completed)} == {"job-1"}


def test_allocation_policy_and_finance_subjects_and_defaults() -> None:
    assert builders.allocation_requested("job-7").meta.subject == "cpu-local"
    assert builders.allocation_released("job-7", pool="gpu").meta.subject == "gpu"
    assert builders.allocation_granted("job-7").meta.subject == "job-7"
    assert builders.allocation_denied("job-7").refusals[0].code is RefusalCode.QUOTA
    request = builders.request_policy("job-7", input_doc={"request": {"b": 1, "a": 2}})
    assert (request.meta.subject, request.input_json) == ("job-7", '{"request":{"a":2,"b":1}}')
    denied = builders.policy_decided("job-7", allowed=False)
    assert denied.meta.subject == "job-7"
    assert [(r.code, r.message) for r in denied.refusals] == [
        (RefusalCode.POLICY, rule.reason) for rule in denied.matched
    ]
    assert builders.policy_decided().refusals == []
    clock = FrozenClock(T0)
    usage = builders.usage_recorded(accelerators=2, wall_seconds=1800, clock=clock)
    assert (usage.unit_hours, usage.ended_at - usage.started_at) == ("1", timedelta(minutes=30))
    charge = builders.chargeback_recorded(unit_hours="1.05", cost_rate="0.10", clock=clock)
    assert (charge.month, charge.cost_cents) == ("2025-06", 11)  # 10.5 cents, half-up


def body(message: Message) -> dict[str, Any]:
    return message.model_dump(exclude={"meta"})


async def test_the_drift_defaults_line_up_with_the_drift_worker(tmp_path: Path) -> None:
    """The drift builders compute their digests without the drift extra; here they
    agree with ``covenant.drift.signoff``, and the commands' defaults (signed for
    real) are what the drift worker accepts and answers with the events' defaults."""
    pytest.importorskip("datasketches")  # the drift extra
    from covenant.blobs import open_blobs
    from covenant.drift import signoff
    from covenant.drift.worker import make_drift_worker
    from covenant.events.drift import (
        AlertSeverity,
        DriftAlerted,
        DriftFinding,
        ObserveOutcome,
        QuarantineApplied,
        QuarantineReleased,
        QuarantineSignedOff,
        Remediation,
        RetrainApproved,
        RetrainProposed,
    )
    from covenant.events.serving import RollbackDeployment
    from covenant.events.training import SubmitTraining
    from covenant.promotion import Approver, ApproverGroup
    from covenant.signing import LocalKeySigner
    from covenant.training.pools import default_pools

    proposed = builders.retrain_proposed()
    assert proposed.request_digest == signoff.retrain_digest("retrain-1", proposed.request)
    applied = builders.quarantine_applied()
    assert applied.request_digest == signoff.quarantine_digest(
        "quarantine-1", "vit:1.0.0", "alert-1"
    )
    assert builders.approve_retrain().decision.request_digest == proposed.request_digest
    assert builders.sign_off_quarantine().decision.request_digest == applied.request_digest
    scored = builders.drift_scored(drifted_columns=["f0"])
    assert scored.drifted
    assert [c.column for c in scored.columns if c.drifted] == ["f0"]
    assert not builders.drift_scored().drifted
    sample = builders.observe_sample()
    assert len(sample.features) == 4
    assert sample.meta.subject == "route:vit"

    signer = LocalKeySigner.generate(tmp_path / "bob.pem")
    approver = Approver(id="bob@example.com", public_key_pem=signer.public_key_pem())
    group = ApproverGroup(name="model-risk", required=1, members=(approver,))
    clock, ids = FrozenClock(T0), SequentialIds()

    async def signature(subject_id: str, digest: str) -> bytes:
        return await signer.sign(
            signoff.signoff_message(
                subject_id=subject_id,
                request_digest=digest,
                approver_id=approver.id,
                expires_at=T0 + timedelta(hours=1),
                nonce="nonce-1",
            )
        )

    def drift_worker() -> Worker:
        worker = make_drift_worker(
            blobs=open_blobs(str(tmp_path / "blobs")), pools=default_pools(), approvers=group
        )
        assert worker.state is not None
        for fact in (
            builders.dataset_registered("d1"),
            builders.training_queued(),
            builders.model_registered(provenance={"trainingJob": "job-1"}),
            builders.deployment_recorded(),
        ):
            worker.state.apply(fact)
        return worker

    async def handle(worker: Worker, message: Message) -> list[Message]:
        ctx = Context(worker=worker.name, cause=message, clock=clock, ids=ids)
        await worker.handle(message, ctx)
        assert worker.state is not None
        for emitted in ctx.emitted:
            worker.state.apply(emitted)
        return ctx.emitted

    label = builders.observe_label()
    (outcome,) = await handle(drift_worker(), label)
    assert isinstance(outcome, ObserveOutcome)
    assert body(outcome) == body(builders.observe_outcome(caused_by=label))
    assert outcome.meta.subject == builders.observe_outcome().meta.subject

    # A drift alert proposes a retrain; its default approval submits it.
    retrain = drift_worker()
    report = builders.report_alert(clock=clock)
    alerted, proposal, finding = await handle(retrain, report)
    assert isinstance(alerted, DriftAlerted)
    assert alerted.remediation is Remediation.RETRAIN
    assert body(alerted) == body(
        builders.drift_alerted(source=report.source, reason=report.reason, features=[], windows=[])
    )
    assert isinstance(proposal, RetrainProposed)
    expected = builders.retrain_proposed(
        request=builders.retrain_request(reason=report.reason), cost=None
    )
    expected = expected.model_copy(
        update={"lineage": expected.lineage.model_copy(update={"windows": []})}
    )
    assert body(proposal) == body(expected)
    assert isinstance(finding, DriftFinding)
    assert (finding.finding_id, finding.remediation_event_id) == (
        "finding-1",
        proposal.meta.event_id,
    )
    approve = builders.approve_retrain(
        key_id=approver.key_id,
        request_digest=proposal.request_digest,
        signature=await signature("retrain-1", proposal.request_digest),
        clock=clock,
    )
    submit, approved = await handle(retrain, approve)
    assert isinstance(submit, SubmitTraining)
    assert submit.job_id == "retrain-1-job"
    assert isinstance(approved, RetrainApproved)
    assert body(approved) == body(builders.retrain_approved())

    # A safety alert quarantines; its default sign-off releases the model.
    safety = drift_worker()
    outputs = await handle(safety, builders.report_alert(severity=AlertSeverity.SAFETY))
    assert [type(m) for m in outputs] == [
        DriftAlerted,
        RollbackDeployment,
        QuarantineApplied,
        DriftFinding,
    ]
    assert body(outputs[2]) == body(builders.quarantine_applied())
    signoff_command = builders.sign_off_quarantine(
        key_id=approver.key_id,
        signature=await signature("quarantine-1", applied.request_digest),
        clock=clock,
    )
    signed, released = await handle(safety, signoff_command)
    assert isinstance(signed, QuarantineSignedOff)
    assert isinstance(released, QuarantineReleased)
    assert body(signed) == body(builders.quarantine_signed_off())
    assert body(released) == body(builders.quarantine_released())

    # The same sign-off again is a replay, refused.
    (refused,) = await handle(safety, signoff_command)
    assert refused.meta.type == "drift.refused"
