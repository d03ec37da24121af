"""The whole training flow on the Ray executor: the runner dispatches a job to a
real local Ray cluster, Ray Train fits it on two workers, the job's Ray driver is
SIGKILLed after a checkpoint, the job resumes as attempt 2 from it, completes,
registers its model, and a rerun of the recorded job makes the same bytes."""

from __future__ import annotations

import asyncio
import io
import os
import signal
from decimal import Decimal
from pathlib import Path

import pytest

from boosting_repo import BOOSTING_ENTRYPOINT, boosting_data, make_boosting_repo
from covenant.blobs import FolderBlobStore
from covenant.bus import Bus
from covenant.events.contract import default_codec
from covenant.events.registry import ModelRegistered
from covenant.events.training import (
    ComputeRequirements,
    SubmitTraining,
    TargetModel,
    TrainingCheckpointed,
    TrainingCompleted,
    TrainingPreempted,
    TrainingReproduced,
)
from covenant.platform import Resources, build_workers
from covenant.testing import builders, embedded_log, publish, running, wait_for
from covenant.topics import ALL_TOPICS
from covenant.training.executors.protocol import run_id_for
from covenant.training.executors.ray import RayExecutor
from covenant.training.pools import Pool
from covenant.training.runner import Runner, RunnerSettings
from ray_cluster import LocalRay

pytestmark = [pytest.mark.ray, pytest.mark.slow]
POOL = Pool(
    name="cpu-ray",
    accelerator=None,
    accelerators=0,
    cpus=8,
    memory_gb=32,
    hardware_class="cpu-x86_64",
    cost_rate=Decimal("0.04"),
)


def submit(job_id: str, repo: str, commit: str, **extra: object) -> SubmitTraining:
    message: SubmitTraining = SubmitTraining.create(
        subject=job_id,
        actor="alice@example.com",
        producer="test",
        job_id=job_id,
        model_family="boosting",
        team="vision",
        dataset_refs=["cancer:v1"],
        code_ref=f"{repo}#{commit}",
        entrypoint=BOOSTING_ENTRYPOINT,
        seed=11,
        hyperparams={"rounds": "40", "checkpoint_every": "10", "round_sleep_s": "0.3"},
        compute=ComputeRequirements(executor="ray", workers=2, cpus=1),
        **extra,
    )
    return message


async def driver_pid(executor: RayExecutor, run_id: str) -> int:
    for _ in range(200):
        info = await asyncio.to_thread(
            executor._jobs().get_job_info, executor.submission_id(run_id)
        )
        if info.driver_info is not None and info.driver_info.pid:
            return int(info.driver_info.pid)
        await asyncio.sleep(0.1)
    raise AssertionError("the Ray job never reported its driver")


async def test_a_job_on_ray_is_preempted_resumed_registered_and_reproduced(
    ray_cluster: LocalRay, tmp_path: Path
) -> None:
    repo, commit = make_boosting_repo(tmp_path / "repo")
    blobs_dir = tmp_path / "blobs"
    async with embedded_log(tmp_path) as bus, FolderBlobStore(blobs_dir) as blobs:
        await run_flow(bus, blobs, ray_cluster, blobs_dir, repo, commit)


async def run_flow(
    bus: Bus, blobs: FolderBlobStore, cluster: LocalRay, blobs_dir: Path, repo: str, commit: str
) -> None:
    await bus.ensure_topics(ALL_TOPICS)
    data = await blobs.put(source=io.BytesIO(boosting_data().cancer_csv()), media_type="text/csv")
    await publish(
        bus,
        builders.artifact_stored("cancer", artifact_id=data.artifact_id),
        builders.dataset_registered("cancer:v1", checksum=data.artifact_id),
    )
    executor = RayExecutor(cluster.address, blobs_dir.as_uri(), prefix="covenant-flow-")
    runner = Runner(
        bus=bus,
        codec=default_codec(),
        blobs=blobs,
        executors={"ray": executor},
        settings=RunnerSettings(interval_s=0.2),
    )
    resources = Resources(blobs=blobs, pools={POOL.name: POOL}, executors=("local", "ray"))
    workers = build_workers(
        ["artifacts", "registry", "policy", "allocator", "training"], resources=resources
    )
    stop = asyncio.Event()
    async with running(bus, workers):
        task = asyncio.create_task(runner.run(stop))
        try:
            target = TargetModel(family="boosting", version="1.0.0")
            await publish(bus, submit("ray-1", repo, commit, target=target))
            await wait_for(bus, TrainingCheckpointed, lambda e: e.job_id == "ray-1", timeout_s=300)
            os.kill(await driver_pid(executor, run_id_for("ray-1", 1)), signal.SIGKILL)
            await wait_for(bus, TrainingPreempted, lambda e: e.job_id == "ray-1", timeout_s=120)
            done = await wait_for(
                bus, TrainingCompleted, lambda e: e.job_id == "ray-1", timeout_s=400
            )
            assert done.attempt == 2
            assert done.record.compute.executor == "ray"
            assert done.metrics.get("world_size") == 2
            model = next(a for a in done.artifacts if a.path == "model.txt")
            registered = await wait_for(
                bus, ModelRegistered, lambda e: e.entry.model_id == "boosting:1.0.0"
            )
            assert registered.entry.artifact_id == model.artifact_id

            await publish(bus, submit("ray-2", repo, commit, reproduces="ray-1"))
            verdict = await wait_for(
                bus, TrainingReproduced, lambda e: e.job_id == "ray-2", timeout_s=400
            )
            assert verdict.identical, verdict
        finally:
            stop.set()
            await task
            await executor.aclose()
