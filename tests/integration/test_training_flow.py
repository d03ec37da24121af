"""A training job end to end, on the real runtime and the local executor: the
registered dataset is trained on by the digits example, checkpointed, SIGKILLed
and resumed, registered as a model version, re-run and verified identical; and
the refusals and cancels that must leave nothing running or allocated.

Every worker the flow needs runs (datasets facts are published as the datasets
worker writes them), with the runner reconciling a ``LocalExecutor``.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from covenant.blobs import FolderBlobStore
from covenant.bus import Bus
from covenant.drift.profile import Profile
from covenant.drift.reference import OUTPUT_LABEL
from covenant.events.allocation import AllocationFreed, AllocationGranted, AllocationRequested
from covenant.events.base import Message
from covenant.events.contract import default_codec
from covenant.events.finance import ChargebackRecorded, UsageRecorded
from covenant.events.registry import ModelRegistered
from covenant.events.training import (
    CancelTraining,
    ComputeRequirements,
    RetryPolicy,
    SubmitTraining,
    TargetModel,
    TrainingCancelled,
    TrainingCheckpointed,
    TrainingCompleted,
    TrainingPreempted,
    TrainingRejected,
    TrainingReproduced,
    TrainingResumed,
    TrainingStarted,
)
from covenant.platform import Resources, build_workers
from covenant.testing import builders, collect, publish, running, wait_for
from covenant.topics import ALL_TOPICS, ALLOCATION_COMMANDS, ALLOCATION_EVENTS, FINANCE_EVENTS
from covenant.training.executors.local import LocalExecutor
from covenant.training.executors.protocol import run_id_for
from covenant.training.pools import Pool, Quota
from covenant.training.runner import Runner, RunnerSettings
from covenant.training.sdk import PROFILE_MEDIA_TYPE, PROFILE_OUTPUT
from training_repo import (
    DIGITS_ENTRYPOINT,
    PROBE_ENTRYPOINT,
    commit_all,
    digits_data,
    make_training_repo,
)

pytestmark = pytest.mark.slow
# Room for four one-CPU jobs, a quota of two for the team that submits them.
POOL = Pool(
    name="cpu-local",
    accelerator=None,
    accelerators=0,
    cpus=4,
    memory_gb=16,
    hardware_class="cpu-x86_64",
    cost_rate=Decimal("0.04"),
    quotas={"vision": Quota(cpus=2)},
    limited=True,
)
WORKERS = ["artifacts", "registry", "policy", "allocator", "training"]


@dataclass
class Flow:
    bus: Bus
    executor: LocalExecutor
    repo: str
    commit: str
    dataset: str
    second_commit: str
    blobs: FolderBlobStore

    def submit(self, job_id: str, **overrides: Any) -> SubmitTraining:
        body: dict[str, Any] = {
            "job_id": job_id,
            "model_family": "digits",
            "team": "vision",
            "dataset_refs": [self.dataset],
            "code_ref": f"{self.repo}#{self.commit}",
            "entrypoint": DIGITS_ENTRYPOINT,
            "seed": 7,
            "hyperparams": {"epochs": "4"},
        } | overrides
        message: SubmitTraining = SubmitTraining.create(
            subject=job_id, actor="alice@example.com", producer="test", **body
        )
        return message

    def pid(self, job_id: str, attempt: int = 1) -> int:
        folder = self.executor.run_dir(run_id_for(job_id, attempt))
        return int(json.loads((folder / "process.json").read_text())["pid"])


@pytest.fixture
async def flow(bus: Bus, tmp_path: Path) -> AsyncIterator[Flow]:
    await bus.ensure_topics(ALL_TOPICS)
    blobs_dir = tmp_path / "blobs"
    async with FolderBlobStore(blobs_dir) as blobs:
        csv = digits_data().digits_csv()
        data = await blobs.put(source=io.BytesIO(csv), media_type="text/csv")
        lines = csv.split(b"\n")  # one byte: the label of the second image, a training row
        lines[2] = (b"2" if lines[2][:1] != b"2" else b"3") + lines[2][1:]
        changed = b"\n".join(lines)
        assert len(changed) == len(csv)
        other = await blobs.put(source=io.BytesIO(changed), media_type="text/csv")
        pii = await blobs.put(source=io.BytesIO(b"name,email\n"), media_type="text/csv")
        await publish(
            bus,
            builders.artifact_stored("digits", artifact_id=data.artifact_id),
            builders.dataset_registered("digits:v1", checksum=data.artifact_id),
            builders.dataset_registered("digits:v2", checksum=other.artifact_id),
            builders.dataset_registered("people:v1", checksum=pii.artifact_id, pii=True),
            builders.dataset_registered(
                "research:v1", checksum=data.artifact_id, license="LicenseRef-no-training"
            ),
        )
        repo, commit = make_training_repo(tmp_path / "repo")
        second = second_commit(Path(repo))
        executor = LocalExecutor(tmp_path / "runs", f"file://{blobs_dir}")
        resources = Resources(blobs=blobs, pools={POOL.name: POOL})
        runner = Runner(
            bus=bus,
            codec=default_codec(),
            blobs=blobs,
            executors={"local": executor},
            settings=RunnerSettings(interval_s=0.1),
        )
        stop = asyncio.Event()
        async with running(bus, build_workers(WORKERS, resources=resources)):
            task = asyncio.create_task(runner.run(stop))
            try:
                yield Flow(bus, executor, repo, commit, "digits:v1", second, blobs)
            finally:
                stop.set()
                await task


def second_commit(repo: Path) -> str:
    """A commit after the first that changes a comment only."""
    train = repo / "digits" / "train.py"
    train.write_text(train.read_text() + "\n# a comment\n")
    return commit_all(repo, "comment")


def gone(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists()


async def completed(bus: Bus, job_id: str, timeout_s: float = 240) -> TrainingCompleted:
    return await wait_for(bus, TrainingCompleted, lambda e: e.job_id == job_id, timeout_s=timeout_s)


async def test_a_job_is_checkpointed_preempted_resumed_registered_and_reproduced(
    flow: Flow,
) -> None:
    target = TargetModel(family="digits", version="1.0.0")
    hyper = {"epochs": "4", "epoch_sleep_s": "0.5"}
    await publish(flow.bus, flow.submit("job-1", target=target, hyperparams=hyper))
    await wait_for(flow.bus, TrainingCheckpointed, lambda e: e.job_id == "job-1", timeout_s=180)
    os.killpg(flow.pid("job-1"), signal.SIGKILL)  # a spot reclaim, mid-run

    preempted = await wait_for(flow.bus, TrainingPreempted, lambda e: e.job_id == "job-1")
    resumed = await wait_for(flow.bus, TrainingResumed, lambda e: e.job_id == "job-1")
    assert resumed.attempt == 2
    assert resumed.from_checkpoint == preempted.last_checkpoint is not None
    done = await completed(flow.bus, "job-1")
    assert done.attempt == 2
    model = next(a for a in done.artifacts if a.path == "model.onnx")
    registered = await wait_for(
        flow.bus, ModelRegistered, lambda e: e.entry.model_id == "digits:1.0.0"
    )
    assert registered.entry.artifact_id == model.artifact_id
    assert registered.entry.provenance["trainingJob"] == "job-1"
    assert registered.meta.correlation_id == done.meta.correlation_id

    # the training profile: one more output, stored as what it is, linked to the version
    profile = next(a for a in done.artifacts if a.path == PROFILE_OUTPUT)
    assert profile.kind == "output"
    assert registered.entry.provenance["drift_profile"] == profile.artifact_id
    stat = await flow.blobs.stat(profile.artifact_id)
    assert stat is not None
    assert stat.media_type == PROFILE_MEDIA_TYPE
    chunks = await flow.blobs.open(profile.artifact_id)
    reference = Profile.from_bytes(b"".join([chunk async for chunk in chunks]))
    assert reference.features == [f"p{i}" for i in range(64)]
    assert reference.outputs == [OUTPUT_LABEL]
    assert reference.rows == 1437  # 1,797 images, every fifth held out
    hits, trials = reference.rates["accuracy"]
    assert trials == 1437
    assert 0.8 < hits / trials <= 1.0
    assert reference.metadata["source"] == "training"

    # an uninterrupted rerun of the recorded job makes the same bytes
    await publish(flow.bus, flow.submit("job-2", hyperparams=hyper, reproduces="job-1"))
    verdict = await wait_for(
        flow.bus, TrainingReproduced, lambda e: e.job_id == "job-2", timeout_s=240
    )
    assert verdict.identical, verdict
    rerun = await completed(flow.bus, "job-2")  # resumed or not, the same profile bytes
    assert next(a for a in rerun.artifacts if a.path == PROFILE_OUTPUT) == profile
    usage = await collect(flow.bus, FINANCE_EVENTS)
    charges = [m for m in usage if isinstance(m, ChargebackRecorded)]
    assert {c.job_id for c in charges} == {"job-1", "job-2"}
    assert all(isinstance(m, UsageRecorded | ChargebackRecorded) for m in usage)


@pytest.mark.parametrize("change", ["seed", "data", "commit"])
async def test_changing_one_input_makes_the_rerun_differ_and_names_that_input(
    flow: Flow, change: str, tmp_path: Path
) -> None:
    hyper = {"epochs": "2"}
    await publish(flow.bus, flow.submit("base", hyperparams=hyper))
    await completed(flow.bus, "base")
    rerun: dict[str, Any] = {"hyperparams": hyper, "reproduces": "base"}
    if change == "seed":
        rerun["seed"] = 8
    elif change == "data":
        rerun["dataset_refs"] = ["digits:v2"]  # the same file with one byte changed
    else:
        rerun["code_ref"] = f"{flow.repo}#{flow.second_commit}"
    await publish(flow.bus, flow.submit("rerun", **rerun))
    verdict = await wait_for(
        flow.bus, TrainingReproduced, lambda e: e.job_id == "rerun", timeout_s=240
    )
    assert not verdict.identical
    assert [d.field for d in verdict.differences] == [change]
    if change != "commit":  # the second commit changes a comment, not what is computed
        assert "model.onnx" in verdict.differing_outputs


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"dataset_refs": ["people:v1"]}, "PII"),
        ({"dataset_refs": ["research:v1"]}, "licen"),
        ({"dataset_refs": ["nope:v1"]}, "not registered"),
        ({"code_ref": "/srv/x#main"}, "not a full commit"),
        ({"compute": ComputeRequirements(pool="gpu-mars")}, "gpu-mars"),
        ({"compute": ComputeRequirements(cpus=64)}, "64"),
    ],
)
async def test_refused_jobs_request_no_compute_and_start_nothing(
    flow: Flow, overrides: dict[str, Any], needle: str
) -> None:
    await publish(flow.bus, flow.submit("bad", **overrides))
    rejected = await wait_for(flow.bus, TrainingRejected, lambda e: e.job_id == "bad", timeout_s=60)
    assert needle.lower() in " ".join(rejected.reasons).lower(), rejected.reasons
    requested = await collect(flow.bus, ALLOCATION_COMMANDS)
    assert not [m for m in requested if isinstance(m, AllocationRequested)]
    assert not flow.executor.run_dir(run_id_for("bad", 1)).exists()


async def test_cancel_mid_run_stops_the_process_and_registers_nothing(flow: Flow) -> None:
    hyper = {"sleep_s": "60"}
    target = TargetModel(family="probe", version="1.0.0")
    await publish(
        flow.bus,
        flow.submit("long", entrypoint=PROBE_ENTRYPOINT, hyperparams=hyper, target=target),
    )
    await wait_for(flow.bus, TrainingStarted, lambda e: e.job_id == "long", timeout_s=60)
    pid = flow.pid("long")
    cancel: Message = CancelTraining.create(
        subject="long", actor="alice@example.com", producer="test", job_id="long", reason="wrong"
    )
    await publish(flow.bus, cancel)
    await wait_for(flow.bus, TrainingCancelled, lambda e: e.job_id == "long")
    for _ in range(100):
        if gone(pid):
            break
        await asyncio.sleep(0.1)
    assert gone(pid), "the run's process is still there"
    freed = await wait_for(flow.bus, AllocationFreed, lambda e: e.allocation_id == "long")
    assert freed.was_granted
    charges = await collect(flow.bus, FINANCE_EVENTS)
    assert [m.job_id for m in charges if isinstance(m, ChargebackRecorded)] == ["long"]
    models = await collect(flow.bus, ModelRegistered.TOPIC)
    assert not [m for m in models if isinstance(m, ModelRegistered)]


async def test_a_run_that_keeps_dying_fails_after_its_retry_policy(flow: Flow) -> None:
    await publish(
        flow.bus,
        flow.submit(
            "fragile",
            entrypoint=PROBE_ENTRYPOINT,
            hyperparams={"sleep_s": "60"},
            retry_policy=RetryPolicy(max_attempts=1),
        ),
    )
    await wait_for(flow.bus, TrainingStarted, lambda e: e.job_id == "fragile", timeout_s=60)
    os.killpg(flow.pid("fragile"), signal.SIGKILL)
    from covenant.events.training import TrainingFailed

    failed = await wait_for(flow.bus, TrainingFailed, lambda e: e.job_id == "fragile")
    assert "retry policy" in failed.reason


async def test_with_a_quota_of_two_five_jobs_run_two_at_a_time_and_all_end(flow: Flow) -> None:
    jobs = [f"q{i}" for i in range(5)]
    await publish(
        flow.bus,
        *[
            flow.submit(j, entrypoint=PROBE_ENTRYPOINT, hyperparams={"sleep_s": "1.5"})
            for j in jobs
        ],
    )
    for job in jobs:
        await completed(flow.bus, job, timeout_s=180)
        await wait_for(flow.bus, AllocationFreed, lambda e, j=job: e.allocation_id == j)
    answers = await collect(flow.bus, ALLOCATION_EVENTS)
    # One allocator writes every answer for the pool, so its clock orders them.
    changes = sorted(
        (m.meta.occurred_at, 1 if isinstance(m, AllocationGranted) else -1)
        for m in answers
        if isinstance(m, AllocationGranted | AllocationFreed)
        and m.allocation_id in jobs
        and (isinstance(m, AllocationGranted) or m.was_granted)
    )
    held, most = 0, 0
    for _, change in changes:
        held += change
        most = max(most, held)
    assert most == 2
    assert held == 0
