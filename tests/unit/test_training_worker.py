"""The training worker's decisions, record by record, without a log: every step
of a job's flow, the refusals before anything is allocated, repeats ignored."""

from __future__ import annotations

from typing import Any

import pytest

from covenant.events.allocation import AllocationGranted, AllocationReleased, AllocationRequested
from covenant.events.base import Message
from covenant.events.datasets import DatasetCleared, DatasetRegistered
from covenant.events.finance import ChargebackRecorded, UsageRecorded
from covenant.events.policy import PolicyDecided, PolicyStage, RequestPolicy
from covenant.events.refusals import Refusal, RefusalCode
from covenant.events.registry import RegisterModel
from covenant.events.runs import ComputeConfig, RunEnvironment, RunRecord, StartRun, StopRun
from covenant.events.training import (
    CancelTraining,
    ComputeRequirements,
    ExpireTraining,
    ReportRun,
    RunReportKind,
    SubmitTraining,
    TargetModel,
    TrainingAllocated,
    TrainingCancelled,
    TrainingCheckpointed,
    TrainingCleared,
    TrainingCompleted,
    TrainingFailed,
    TrainingPreempted,
    TrainingQueued,
    TrainingRejected,
    TrainingReproduced,
    TrainingResumed,
    TrainingStarted,
)
from covenant.runtime.worker import Context, Worker
from covenant.testing import builders
from covenant.training.pools import default_pools
from covenant.training.worker import make_training_worker

COMMIT = "a" * 40
DATA = builders.sha("digits")


def make(cls: type[Message], subject: str, **body: Any) -> Any:
    return cls.create(subject=subject, actor="alice", producer="test", **body)


def submit(job_id: str = "job-1", **overrides: Any) -> SubmitTraining:
    body: dict[str, Any] = {
        "job_id": job_id,
        "model_family": "digits",
        "team": "vision",
        "dataset_refs": ["digits:v1"],
        "code_ref": f"/srv/repo#{COMMIT}",
        "entrypoint": "digits.train:train",
        "seed": 7,
        "target": TargetModel(family="digits", version="1.0.0"),
    } | overrides
    return make(SubmitTraining, job_id, **body)  # type: ignore[no-any-return]


def worker(*known: Message) -> Worker:
    w = make_training_worker(pools=default_pools(cpu_count=4), executors={"local"})
    assert w.state is not None
    registered = builders.dataset_registered("digits:v1", checksum=DATA)
    for event in (registered, *known):
        w.state.apply(event)
    return w


async def run(w: Worker, message: Message) -> list[Any]:
    ctx = Context(worker=w.name, cause=message)
    await w.handle(message, ctx)
    assert w.state is not None
    for emitted in ctx.emitted:
        w.state.apply(emitted)
    return ctx.emitted


def types(messages: list[Any]) -> list[type]:
    return [type(m) for m in messages]


def record(seed: int = 7) -> RunRecord:
    return RunRecord(
        code_repo="/srv/repo",
        code_commit=COMMIT,
        entrypoint="digits.train:train",
        environment=RunEnvironment(
            python="3.11.2", platform="Linux-x86_64", dependencies_sha256="d" * 64
        ),
        seed=seed,
        compute=ComputeConfig(executor="local"),
        hardware_class="cpu-x86_64",
    )


def report(kind: RunReportKind, attempt: int = 1, job_id: str = "job-1", **body: Any) -> ReportRun:
    return make(ReportRun, job_id, job_id=job_id, attempt=attempt, kind=kind, **body)  # type: ignore[no-any-return]


def allowed(job_id: str = "job-1") -> PolicyDecided:
    return make(  # type: ignore[no-any-return]
        PolicyDecided,
        job_id,
        stage=PolicyStage.PRE_TRAIN,
        subject_id=job_id,
        allowed=True,
        policy_version="2026.12.1",
        decided_by="test",
    )


def granted(job_id: str = "job-1") -> AllocationGranted:
    return make(  # type: ignore[no-any-return]
        AllocationGranted,
        job_id,
        allocation_id=job_id,
        pool="cpu-local",
        team="vision",
        hardware_class="cpu-x86_64",
        cost_rate="0.05",
    )


async def to_running(w: Worker, job_id: str = "job-1") -> StartRun:
    await run(w, submit(job_id))
    await run(w, allowed(job_id))
    out = await run(w, granted(job_id))
    (start,) = [m for m in out if isinstance(m, StartRun)]
    return start


async def test_a_valid_submit_is_queued_and_asks_the_pre_train_policy_first() -> None:
    out = await run(worker(), submit())
    assert types(out) == [TrainingQueued, RequestPolicy]
    job = out[0].job
    assert (job.code_repo, job.code_commit, job.dataset_checksums) == (
        "/srv/repo",
        COMMIT,
        {"digits:v1": DATA},
    )
    assert out[1].stage is PolicyStage.PRE_TRAIN
    assert '"digits:v1"' in out[1].input_json


@pytest.mark.parametrize(
    ("overrides", "field", "needle"),
    [
        ({"code_ref": "/srv/repo#main"}, "codeRef", "git rev-parse main"),
        ({"code_ref": "/srv/repo"}, "codeRef", "needs a commit"),
        ({"dataset_refs": ["nope:v1"]}, "datasetRefs.0", "not registered"),
        ({"entrypoint": "train.py"}, "entrypoint", "module:function"),
        ({"compute": ComputeRequirements(pool="gpu-mars")}, "compute.pool", "gpu-mars"),
        ({"compute": ComputeRequirements(cpus=10_000)}, "compute", "10000"),
        ({"compute": ComputeRequirements(executor="slurm")}, "compute.executor", "slurm"),
        ({"hyperparams": {"lr": "{"}}, "hyperparams.lr", "JSON"),
        ({"seed": -1}, "seed", "seed"),
    ],
)
async def test_a_bad_request_is_refused_before_anything_is_asked_or_allocated(
    overrides: dict[str, Any], field: str, needle: str
) -> None:
    out = await run(worker(), submit(**overrides))
    assert types(out) == [TrainingRejected]
    refusal = out[0].refusals[0]
    assert refusal.field is not None
    assert refusal.field.startswith(field)
    assert needle in refusal.message


async def test_a_job_id_is_used_once() -> None:
    w = worker()
    await run(w, submit())
    out = await run(w, submit(seed=8))
    assert types(out) == [TrainingRejected]
    assert out[0].refusals[0].code is RefusalCode.CONFLICT
    # the first job is untouched by the refused second submit, and goes on
    assert types(await run(w, allowed())) == [TrainingCleared, AllocationRequested]


async def test_a_policy_denial_refuses_the_job_and_requests_nothing() -> None:
    w = worker()
    await run(w, submit())
    denied = allowed().model_copy(
        update={
            "allowed": False,
            "refusals": [Refusal(code=RefusalCode.POLICY, message="digits:v1 has PII")],
        }
    )
    out = await run(w, denied)
    assert types(out) == [TrainingRejected]
    assert out[0].refusals[0].message == "digits:v1 has PII"
    # a stray grant starts nothing, and is given back so the pool is not held
    assert types(await run(w, granted())) == [AllocationReleased]


async def test_no_policy_answer_in_time_fails_closed() -> None:
    w = worker()
    await run(w, submit())
    out = await run(w, make(ExpireTraining, "job-1", job_id="job-1", waiting_for="policy"))
    assert types(out) == [TrainingRejected]
    assert "failing closed" in out[0].reasons[0]
    assert await run(w, allowed()) == []  # too late


async def test_clearance_requests_the_pool_then_the_grant_dispatches_attempt_one() -> None:
    w = worker()
    await run(w, submit())
    out = await run(w, allowed())
    assert types(out) == [TrainingCleared, AllocationRequested]
    assert out[1].meta.subject == "cpu-local"  # keyed by pool: one writer per pool
    out = await run(w, granted())
    assert types(out) == [TrainingAllocated, StartRun]
    start = out[1]
    assert (start.attempt, start.resume_from, start.seed) == (1, None, 7)
    assert start.datasets[0].checksum == DATA
    assert await run(w, granted()) == []  # a repeated grant dispatches nothing


async def test_a_lost_run_resumes_from_its_last_checkpoint_then_completes_and_registers() -> None:
    w = worker()
    await to_running(w)
    assert types(await run(w, report(RunReportKind.STARTED, record=record()))) == [TrainingStarted]
    assert await run(w, report(RunReportKind.STARTED, record=record())) == []
    ckpt = builders.sha("ckpt-2")
    out = await run(w, report(RunReportKind.CHECKPOINT, step=2, artifact_id=ckpt))
    assert types(out) == [TrainingCheckpointed]
    assert await run(w, report(RunReportKind.CHECKPOINT, step=2, artifact_id=ckpt)) == []
    out = await run(w, report(RunReportKind.LOST, reason="SIGKILL"))
    assert types(out) == [TrainingPreempted, TrainingResumed, StartRun]
    assert (out[2].attempt, out[2].resume_from) == (2, ckpt)
    assert await run(w, report(RunReportKind.SUCCEEDED, record=record())) == []  # stale attempt
    model = builders.sha("model")
    out = await run(
        w,
        report(
            RunReportKind.SUCCEEDED,
            attempt=2,
            record=record(),
            outputs={"model.onnx": model},
            metrics={"accuracy": 0.95},
            cpu_seconds=3.0,
        ),
    )
    assert types(out) == [
        TrainingCompleted,
        AllocationReleased,
        UsageRecorded,
        ChargebackRecorded,
        RegisterModel,
    ]
    completed, registered = out[0], out[4]
    assert {a.kind for a in completed.artifacts} == {"model", "checkpoint"}
    assert (registered.artifact_id, registered.family, registered.version) == (
        model,
        "digits",
        "1.0.0",
    )
    assert registered.provenance["trainingJob"] == "job-1"
    assert "drift_profile" not in registered.provenance  # the run wrote none
    assert await run(w, report(RunReportKind.SUCCEEDED, attempt=2, record=record())) == []


async def test_the_training_profile_is_an_output_the_model_version_links_to() -> None:
    w = worker()
    await to_running(w)
    model, profile = builders.sha("model"), builders.sha("profile")
    outputs = {"model.onnx": model, "drift-profile.json": profile}
    out = await run(w, report(RunReportKind.SUCCEEDED, record=record(), outputs=outputs))
    (completed,) = [m for m in out if isinstance(m, TrainingCompleted)]
    (registered,) = [m for m in out if isinstance(m, RegisterModel)]
    assert [(a.path, a.artifact_id, a.kind) for a in completed.artifacts] == [
        ("drift-profile.json", profile, "output"),
        ("model.onnx", model, "model"),
    ]
    assert registered.artifact_id == model
    assert registered.provenance["drift_profile"] == profile


async def test_a_rerun_whose_profile_alone_differs_is_identical() -> None:
    # Past 2,000 rows a profile's sketches compact at random: not the run's result.
    w = worker()
    await to_running(w, "job-1")
    model = builders.sha("model")
    first = {"model.onnx": model, "drift-profile.json": builders.sha("profile-1")}
    await run(w, report(RunReportKind.SUCCEEDED, record=record(), outputs=first))
    await run(w, submit("job-2", target=None, reproduces="job-1"))
    await run(w, allowed("job-2"))
    await run(w, granted("job-2"))
    again = {"model.onnx": model, "drift-profile.json": builders.sha("profile-2")}
    out = await run(
        w, report(RunReportKind.SUCCEEDED, job_id="job-2", record=record(), outputs=again)
    )
    (verdict,) = [m for m in out if isinstance(m, TrainingReproduced)]
    assert verdict.identical
    assert verdict.differing_outputs == []


async def test_preempted_past_the_retry_policy_fails_and_releases() -> None:
    w = worker()
    await run(w, submit(retry_policy={"max_attempts": 1}))
    await run(w, allowed())
    await run(w, granted())
    out = await run(w, report(RunReportKind.LOST))
    assert types(out) == [
        TrainingPreempted,
        TrainingFailed,
        AllocationReleased,
        UsageRecorded,
        ChargebackRecorded,
    ]


async def test_cancel_mid_run_stops_the_run_and_releases_and_registers_nothing() -> None:
    w = worker()
    await to_running(w)
    out = await run(w, make(CancelTraining, "job-1", job_id="job-1", reason="wrong data"))
    assert types(out) == [
        TrainingCancelled,
        StopRun,
        AllocationReleased,
        UsageRecorded,
        ChargebackRecorded,
    ]
    assert await run(w, report(RunReportKind.SUCCEEDED, record=record())) == []
    assert await run(w, make(CancelTraining, "job-1", job_id="job-1")) == []


async def test_cancel_while_waiting_for_compute_gives_the_queued_request_back() -> None:
    w = worker()
    await run(w, submit())
    await run(w, allowed())
    out = await run(w, make(CancelTraining, "job-1", job_id="job-1"))
    assert types(out) == [TrainingCancelled, AllocationReleased]
    assert out[1].pool == "cpu-local"  # the pool asked at clearance
    (back,) = await run(w, granted())  # a grant that crossed the cancel goes back
    assert isinstance(back, AllocationReleased)
    assert back.pool == "cpu-local"


async def test_a_rerun_reports_identical_or_names_what_differs() -> None:
    w = worker()
    await to_running(w, "job-1")
    model = builders.sha("model")
    await run(w, report(RunReportKind.SUCCEEDED, record=record(), outputs={"model.onnx": model}))
    for job_id, seed, made, identical in (
        ("job-2", 7, model, True),
        ("job-3", 8, builders.sha("other"), False),
    ):
        await run(w, submit(job_id, seed=seed, target=None, reproduces="job-1"))
        await run(w, allowed(job_id))
        await run(w, granted(job_id))
        out = await run(
            w,
            report(
                RunReportKind.SUCCEEDED,
                job_id=job_id,
                record=record(seed),
                outputs={"model.onnx": made},
            ),
        )
        (verdict,) = [m for m in out if isinstance(m, TrainingReproduced)]
        assert verdict.identical is identical
        if not identical:
            assert [d.field for d in verdict.differences] == ["seed"]
            assert verdict.differing_outputs == ["model.onnx"]


async def test_the_policy_input_carries_the_registry_facts() -> None:
    w = worker(builders.dataset_cleared("digits:v1"))
    out = await run(w, submit())
    assert '"approved":true' in out[1].input_json
    assert isinstance(builders.dataset_cleared("x"), DatasetCleared)
    assert isinstance(builders.dataset_registered("x"), DatasetRegistered)


async def test_a_retried_submit_with_its_idempotency_key_decides_nothing_again() -> None:
    w = worker()
    first = submit().model_copy(
        update={"meta": submit().meta.model_copy(update={"idempotency_key": "k1"})}
    )
    assert types(await run(w, first)) == [TrainingQueued, RequestPolicy]
    assert await run(w, first) == []


async def test_metrics_count_duration_queue_time_utilisation_and_cost() -> None:
    from prometheus_client import CollectorRegistry

    from covenant.training.metrics import TrainingMetrics

    registry = CollectorRegistry()
    w = make_training_worker(
        pools=default_pools(cpu_count=4),
        executors={"local"},
        metrics=TrainingMetrics.create(registry),
    )
    assert w.state is not None
    w.state.apply(builders.dataset_registered("digits:v1", checksum=DATA))
    await to_running(w)
    await run(w, report(RunReportKind.STARTED, record=record()))
    out = await run(
        w, report(RunReportKind.SUCCEEDED, record=record(), outputs={}, cpu_seconds=0.5)
    )
    (charge,) = [m for m in out if isinstance(m, ChargebackRecorded)]

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert (
        value("covenant_training_jobs_ended_total", model_family="digits", outcome="completed") == 1
    )
    assert (
        value(
            "covenant_training_job_duration_seconds_count",
            model_family="digits",
            outcome="completed",
        )
        == 1
    )
    assert value("covenant_training_queue_seconds_count", pool="cpu-local") == 1
    assert value("covenant_training_utilisation_ratio_count", pool="cpu-local") == 1
    cost = value(
        "covenant_training_cost_cents_total", model_family="digits", team="vision", currency="USD"
    )
    assert cost == charge.cost_cents


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"compute": ComputeRequirements(cpus=float("nan"))}, "compute.cpus"),
        ({"compute": ComputeRequirements(cpus=0)}, "compute.cpus"),
        ({"compute": ComputeRequirements(memory_gb=float("inf"))}, "compute.memoryGb"),
        ({"code_ref": f"https://bob:s3cret@git.example.com/x.git#{COMMIT}"}, "codeRef"),
        ({"hyperparams": {"lr": "NaN"}}, "hyperparams.lr"),
    ],
)
async def test_requests_that_would_break_quotas_leak_secrets_or_are_not_json_are_refused(
    overrides: dict[str, Any], field: str
) -> None:
    out = await run(worker(), submit(**overrides))
    assert types(out) == [TrainingRejected]
    assert field in [r.field for r in out[0].refusals]
    assert "s3cret" not in " ".join(out[0].reasons)
