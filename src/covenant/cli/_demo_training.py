"""The demo's training steps: steps 2-4 of the spec's example flow, run for real.

The digits example (scikit-learn, SGD, one checkpoint per epoch, ONNX out),
committed by ``covenant.cli._demo_example``, trains on its data set, stored and
registered here (provenance reviewed). One job asks for 2xA100 in gpu-us-east: the
pre-train policy clears it, the allocator grants it, and its run is SIGKILLed after
its first checkpoint (a spot reclaim) and resumed from its last checkpoint; its model
is registered as a draft with the run record as provenance. A second job re-runs
the first (``reproduces``) and the training worker compares the bytes. The machine
may have no GPU: the allocation holds the pool's accelerators and Finance charges
them (requested x wall time), while the run runs on what is here, and its run
record says so (its hardware class).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from covenant.cli._demo_example import DemoError, commit_example, example_data, preempt
from covenant.errors import ContractError
from covenant.events.artifacts import RecordArtifact
from covenant.events.base import Message
from covenant.events.datasets import ProvenanceReview, RegisterDataset, Transformation
from covenant.events.finance import ChargebackRecorded, UsageRecorded
from covenant.events.registry import ModelRegistered
from covenant.events.training import (
    ComputeRequirements,
    SubmitTraining,
    TargetModel,
    TrainingAllocated,
    TrainingCheckpointed,
    TrainingCleared,
    TrainingCompleted,
    TrainingFailed,
    TrainingPreempted,
    TrainingRejected,
    TrainingReproduced,
    TrainingResumed,
)
from covenant.platform import Platform
from covenant.topics import (
    ARTIFACT_EVENTS,
    DATASET_EVENTS,
    FINANCE_EVENTS,
    MODEL_EVENTS,
    TRAIN_EVENTS,
    Topic,
)
from covenant.training.accounting import format_cents
from covenant.training.executors.protocol import run_id_for

ENGINEER = "bob@example.com"
PRODUCER = "covenant-demo"
DATASET = "digits:v1"
JOB, RERUN = "digits-1", "digits-1-rerun"
TARGET = TargetModel(family="digits", version="1.0.0")
# Few epochs, and a pause after each, so the demo is quick and the kill after the
# first checkpoint lands while epochs are still to come.
# The learning rate makes 4 epochs enough for the digits family's evaluation gates
# (accuracy and calibration; covenant/policy/gates.toml).
HYPERPARAMS = {"epochs": "4", "epoch_sleep_s": "0.75", "learning_rate": "0.25"}
WAIT_S = 180.0
M = TypeVar("M", bound=Message)


@dataclass
class TrainingResult:
    """What the training steps did, for the terminal and for ``--json``."""

    job_id: str = JOB
    rerun_job_id: str = RERUN
    code_ref: str = ""
    policy_version: str = ""
    pool: str = ""
    requested: str = ""
    allocated_hardware_class: str = ""
    ran_on_hardware_class: str = ""
    killed_pid: int = 0
    preempted_attempt: int = 0
    resumed_from_step: int | None = None
    attempts: int = 0
    checkpoints: int = 0
    accuracy: float | None = None
    model_id: str = ""
    model_status: str = ""
    model_artifact_id: str = ""
    provenance: dict[str, str] = field(default_factory=dict)
    identical: bool = False
    differences: list[str] = field(default_factory=list)
    gpu_hours: dict[str, str] = field(default_factory=dict)
    cost: dict[str, str] = field(default_factory=dict)
    currency: str = "USD"
    lineage: dict[str, Any] = field(default_factory=dict)


def _compute(v: dict[str, Any]) -> str:
    """What a job or an allocation asks for: ``2xA100 in gpu-us-east``."""
    kind = f"{v['accelerators']}x{v['accelerator']}" if v.get("accelerator") else "CPU"
    return f"{kind} in {v.get('pool') or 'any pool'}"


def _submitted(v: dict[str, Any]) -> str:
    again = f", reproduces {v['reproduces']}" if v.get("reproduces") else ""
    return f"asked by {v['meta']['actor']}: {_compute(v['compute'])}, seed {v['seed']}{again}"


def _usage(v: dict[str, Any]) -> str:
    unit = "accelerator-hours" if v.get("accelerator") else "CPU-hours"
    held = f"{v['accelerators']}x{v['accelerator']}" if v.get("accelerator") else f"{v['cpus']}"
    return f"{v['unitHours']} {unit} ({held} held x {v['wallSeconds']:.1f} s wall)"


def _ran_on(record: dict[str, Any] | None) -> str:
    return f"ran on {record['hardwareClass']}" if record else ""


# One line per training record type, for the demo's timeline (``_demo_flow``).
TRAINING_SUMMARIES: dict[str, Callable[[dict[str, Any]], str]] = {
    "train.submit": _submitted,
    "train.queued": lambda v: f"queued: {_compute(v['job']['compute'])}",
    "policy.requested": lambda v: f"{v['stage']} policy asked about {v['subjectId']}",
    "policy.decided": lambda v: (
        f"{'allowed' if v['allowed'] else 'refused'} by policy {v['policyVersion']}"
    ),
    "train.cleared": lambda v: f"cleared by pre-train policy {v['policyVersion']}",
    "allocation.requested": lambda v: f"{_compute(v)} for team {v['team']}",
    "allocation.granted": lambda v: (
        f"granted {_compute(v)}, {v['hardwareClass']}, {v['costRate']} {v['currency']}/unit-hour"
    ),
    "train.allocated": lambda v: f"pool {v['pool']}, hardware class {v['hardwareClass']}",
    "run.start": lambda v: (
        f"attempt {v['attempt']} on {v['executor']}"
        + (f", resume from {v['resumeFrom'][:19]}…" if v.get("resumeFrom") else "")
    ),
    "train.report": lambda v: (
        f"runner saw attempt {v['attempt']}: {v['kind']}"
        + (f" {v['step']}" if v.get("step") is not None else "")
    ),
    "train.started": lambda v: f"attempt {v['attempt']} {_ran_on(v.get('record'))}",
    "train.checkpointed": lambda v: (
        f"attempt {v['attempt']}, epoch {v['step']}: {v['artifactId'][:19]}…"
    ),
    "train.preempted": lambda v: f"attempt {v['attempt']}: {v['reason']}",
    "train.resumed": lambda v: f"attempt {v['attempt']} from epoch {v['fromStep']}'s checkpoint",
    "train.completed": lambda v: (
        f"attempt {v['attempt']}, accuracy {v['metrics'].get('accuracy', 0):.3f}, "
        + _ran_on(v["record"])
    ),
    "train.reproduced": lambda v: f"of {v['originalJobId']}: identical={v['identical']}",
    "allocation.released": lambda v: f"{v['allocationId']} gives back its compute",
    "allocation.freed": lambda v: f"{v['allocationId']} freed in {v['pool']}",
    "finance.usage": _usage,
    "finance.chargeback": lambda v: (
        f"{format_cents(v['costCents'])} {v['currency']} to team {v['team']} ({v['month']})"
    ),
}


class _Watch:
    """Follows the event topics the steps wait on; fails fast on a refused job."""

    TOPICS: tuple[Topic, ...] = (
        ARTIFACT_EVENTS,
        DATASET_EVENTS,
        TRAIN_EVENTS,
        MODEL_EVENTS,
        FINANCE_EVENTS,
    )

    def __init__(self, platform: Platform, progress: Callable[[str], None]) -> None:
        self.platform = platform
        self.progress = progress
        self.seen: list[Message] = []
        self._changed = asyncio.Event()

    async def follow(self) -> None:
        async for record in self.platform.bus.read(self.TOPICS, follow=True):
            with contextlib.suppress(ContractError):
                message = self.platform.codec.decode(record.value)
                self.seen.append(message)
                self._changed.set()
                kind = message.meta.type
                if message.TOPIC == TRAIN_EVENTS and kind in TRAINING_SUMMARIES:
                    _, value = self.platform.codec.decode_dict(record.value)
                    summary = TRAINING_SUMMARIES[kind](value)
                    self.progress(f"{message.meta.subject}: {kind}, {summary}")

    def all(self, kind: type[M], job: str | None = None) -> list[M]:
        return [
            m
            for m in self.seen
            if isinstance(m, kind) and (job is None or getattr(m, "job_id", None) == job)
        ]

    async def first(self, kind: type[M], match: Callable[[M], bool], what: str) -> M:
        deadline = asyncio.get_running_loop().time() + WAIT_S
        while True:
            found = [m for m in self.all(kind) if match(m)]
            if found:
                return found[0]
            for failed in self.all(TrainingRejected) + self.all(TrainingFailed):
                reasons = getattr(failed, "reasons", None) or [getattr(failed, "reason", "")]
                raise DemoError(
                    f"job {failed.job_id} ended without a result while waiting for {what}: "
                    f"{'; '.join(reasons)}; see covenant events tail --from-beginning"
                )
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                runs = self.platform.settings.home / "runs"
                raise DemoError(
                    f"no {what} within {WAIT_S:.0f} s; the machine may be overloaded: run "
                    f"the demo again, or read the runs' logs under {runs}"
                )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)


def _ask(cls: type[M], subject: str, **body: Any) -> M:
    message: M = cls.create(subject=subject, actor=ENGINEER, producer=PRODUCER, **body)
    return message


async def register_csv(
    platform: Platform, watch: _Watch, data: bytes, name: str, dataset_id: str, *steps: Any,
    source_refs: tuple[str, ...] = ("sklearn.datasets.load_digits",),
) -> str:  # fmt: skip
    """A CSV of the bundled digits stored, recorded, registered (provenance reviewed)
    with the transformations ``steps``; its artifact id, once registered."""
    blob = await platform.blobs.put(source=io.BytesIO(data), media_type="text/csv")
    await platform.publish(
        _ask(
            RecordArtifact,
            blob.artifact_id,
            name=name,
            media_type="text/csv",
            claimed_sha256=blob.sha256,
            size_bytes=blob.size,
            blob_uri=blob.uri,
        )
    )
    stored = blob.artifact_id
    await watch.first(Message, lambda m: getattr(m, "artifact_id", "") == stored, "its storing")
    await platform.publish(
        _ask(
            RegisterDataset,
            f"dataset:{dataset_id}",
            dataset_id=dataset_id,
            artifact_id=blob.artifact_id,
            source_refs=list(source_refs),
            transformations=list(steps),
            license="CC-BY-4.0",
            provenance_review=ProvenanceReview.PASSED,
        )
    )
    await watch.first(
        Message, lambda m: m.meta.subject == f"dataset:{dataset_id}", f"{dataset_id}'s registration"
    )
    return stored


def _submit(job_id: str, code_ref: str, **extra: Any) -> SubmitTraining:
    return _ask(
        SubmitTraining,
        job_id,
        job_id=job_id,
        model_family=TARGET.family,
        team="vision",
        dataset_refs=[DATASET],
        code_ref=code_ref,
        entrypoint="digits.train:train",
        hyperparams=HYPERPARAMS,
        seed=42,
        compute=ComputeRequirements(pool="gpu-us-east", accelerator="A100", accelerators=2),
        **extra,
    )


async def run_training(
    platform: Platform, source: Path, progress: Callable[[str], None]
) -> TrainingResult:
    """Train, preempt, resume, register, re-run and account, on the running platform."""
    result = TrainingResult()
    watch = _Watch(platform, progress)
    following = asyncio.create_task(watch.follow())
    try:
        progress("training: committing the digits example to a git repository")
        repo, commit = commit_example(source, platform.settings.home / "code")
        result.code_ref = code_ref = f"{repo}#{commit}"
        data = example_data(source).digits_csv()  # step 1: the training data
        checksum = f"sha256:{hashlib.sha256(data).hexdigest()}"
        step = Transformation(name="export-csv", code_ref=code_ref, checksum=checksum)
        await register_csv(platform, watch, data, "digits.csv", DATASET, step)
        await platform.publish(_submit(JOB, code_ref, target=TARGET))
        await watch.first(TrainingCheckpointed, lambda e: e.job_id == JOB, "a first checkpoint")
        progress("training: SIGKILL the run after its first checkpoint (a spot reclaim)")
        result.killed_pid = preempt(platform.settings, run_id_for(JOB, 1))
        done = await watch.first(TrainingCompleted, lambda e: e.job_id == JOB, "the job's end")
        model_id = f"{TARGET.family}:{TARGET.version}"
        model = await watch.first(
            ModelRegistered, lambda e: e.entry.model_id == model_id, "the model's registration"
        )
        await platform.publish(_submit(RERUN, code_ref, reproduces=JOB))
        verdict = await watch.first(
            TrainingReproduced, lambda e: e.job_id == RERUN, "the rerun's verdict"
        )
        await watch.first(
            ChargebackRecorded,
            lambda _: {c.job_id for c in watch.all(ChargebackRecorded)} >= {JOB, RERUN},
            "both jobs' chargebacks",
        )
    finally:
        following.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await following
    cleared = watch.all(TrainingCleared, JOB)[0]
    allocated = watch.all(TrainingAllocated, JOB)[0]
    preempted = watch.all(TrainingPreempted, JOB)[0]
    resumed = watch.all(TrainingResumed, JOB)
    result.policy_version = cleared.policy_version
    result.pool = allocated.pool
    result.requested = f"{allocated.accelerators}x{allocated.accelerator}"
    result.allocated_hardware_class = allocated.hardware_class
    result.ran_on_hardware_class = done.record.hardware_class
    result.preempted_attempt = preempted.attempt
    result.resumed_from_step = resumed[0].from_step if resumed else None
    result.attempts = done.attempt
    result.checkpoints = len(watch.all(TrainingCheckpointed, JOB))
    result.accuracy = done.metrics.get("accuracy")
    result.model_id = model.entry.model_id
    result.model_status = model.entry.status.value
    result.model_artifact_id = model.entry.artifact_id
    result.provenance = dict(model.entry.provenance)
    result.identical = verdict.identical
    result.differences = [d.field for d in verdict.differences] + verdict.differing_outputs
    for usage in watch.all(UsageRecorded):
        result.gpu_hours[usage.job_id] = usage.unit_hours
    for charge in watch.all(ChargebackRecorded):
        result.cost[charge.job_id] = format_cents(charge.cost_cents)
        result.currency = charge.currency
    return result
