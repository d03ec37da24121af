"""The Ray executor on a real local Ray cluster, training ``examples/boosting`` with Ray
Train's LightGBM trainer on two workers.

One reference run (attempt 1, 40 rounds, a checkpoint every 10) is shared by the
module; the other tests rerun, kill, resume and cancel runs of the same spec and
compare model digests (``model.txt``'s artifact id) with it. The whole Executor
contract also runs against Ray in ``tests/conformance/test_executor.py``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import os
import signal
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from boosting_repo import BOOSTING_ENTRYPOINT, boosting_data, make_boosting_repo
from covenant.blobs import FolderBlobStore
from covenant.training.executors import DatasetInput, RunObservation, RunSpec, RunState
from covenant.training.executors.local import LocalExecutor
from covenant.training.executors.ray import RayExecutor
from covenant.training.progress import Progress
from ray_cluster import LocalRay, run_processes
from training_repo import PROBE_ENTRYPOINT

pytestmark = pytest.mark.ray

ROUNDS = 40
EVERY = 10


@dataclasses.dataclass
class World:
    cluster: LocalRay
    workdir: Path
    blobs: Path
    repo: str
    commit: str
    data: DatasetInput
    prefix: str
    reference: RunObservation | None = None

    @asynccontextmanager
    async def open(self) -> AsyncIterator[RayExecutor]:
        executor = RayExecutor(self.cluster.address, self.blobs.as_uri(), prefix=self.prefix)
        try:
            yield executor
        finally:
            await executor.aclose()

    def spec(self, job_id: str, *, attempt: int = 1, **changes: Any) -> RunSpec:
        hyperparams = {"rounds": ROUNDS, "checkpoint_every": EVERY}
        hyperparams.update(changes.pop("hyperparams", {}))
        base = RunSpec(
            job_id=job_id,
            attempt=attempt,
            code_repo=self.repo,
            code_commit=self.commit,
            entrypoint=BOOSTING_ENTRYPOINT,
            datasets=(self.data,),
            hyperparams=hyperparams,
            seed=11,
            workers=2,
            cpus=0.5,
        )
        return dataclasses.replace(base, **changes)


async def _put(blobs: Path, data: bytes) -> str:
    async with FolderBlobStore(blobs) as store:
        return (await store.put(source=io.BytesIO(data), media_type="text/csv")).artifact_id


async def _settle(executor: RayExecutor, run_id: str, timeout_s: float = 300) -> RunObservation:
    async with asyncio.timeout(timeout_s):
        while True:
            seen = await executor.observe(run_id)
            if seen.state is not RunState.RUNNING:
                return seen
            await asyncio.sleep(0.25)


async def _until(executor: RayExecutor, run_id: str, kind: str) -> RunObservation:
    async with asyncio.timeout(300):
        while True:
            seen = await executor.observe(run_id)
            if any(p.kind == kind for p in seen.progress):
                return seen
            assert seen.state is RunState.RUNNING, (seen, await executor.logs(run_id))
            await asyncio.sleep(0.1)


async def _run(world: World, spec: RunSpec) -> RunObservation:
    async with world.open() as executor:
        await executor.start(spec)
        seen = await _settle(executor, spec.run_id)
        logs = await executor.logs(spec.run_id)
    assert seen.state is RunState.SUCCEEDED, logs[-6000:]
    assert world.blobs.as_uri() not in logs
    return seen


def _one(seen: RunObservation, kind: str) -> Progress:
    found = [p for p in seen.progress if p.kind == kind]
    assert len(found) == 1, seen
    return found[0]


def _model(seen: RunObservation) -> str:
    assert seen.state is RunState.SUCCEEDED, seen
    return str(_one(seen, "completed").data["outputs"]["model.txt"])


def _steps(seen: RunObservation) -> list[int]:
    return [int(p.data["step"]) for p in seen.progress if p.kind == "checkpoint"]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:200]
    except OSError:
        return f"{pid} (gone)"


async def _gone(run_id: str, address: str, timeout_s: float = 30) -> list[int]:
    """``run_processes`` once they are gone, or what is left after ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        left = run_processes(run_id, address)
        if not left or loop.time() > deadline:
            return left
        await asyncio.sleep(0.2)


@pytest.fixture(scope="module")
def world(ray_cluster: LocalRay, tmp_path_factory: pytest.TempPathFactory) -> World:
    workdir = tmp_path_factory.mktemp("ray")
    repo, commit = make_boosting_repo(workdir / "repo")
    blobs = workdir / "blobs"
    artifact_id = asyncio.run(_put(blobs, boosting_data().cancer_csv()))
    found = World(
        ray_cluster,
        workdir,
        blobs,
        repo,
        commit,
        DatasetInput("cancer", artifact_id, artifact_id),
        prefix=f"covenant-t{uuid.uuid4().hex[:8]}-",
    )
    found.reference = asyncio.run(_run(found, found.spec("boost")))
    return found


@pytest.fixture
def reference(world: World) -> RunObservation:
    assert world.reference is not None
    return world.reference


async def test_ray_train_fits_the_model_on_two_workers(
    world: World, reference: RunObservation
) -> None:
    completed = _one(reference, "completed")
    assert completed.data["metrics"]["world_size"] == 2.0
    assert completed.data["metrics"]["accuracy"] > 0.9
    assert sorted(completed.data["outputs"]) == ["metrics.json", "model.txt"]
    assert _steps(reference) == [10, 20, 30, 40]
    assert _one(reference, "started").data["record"]["compute"]["executor"] == "ray"
    async with world.open() as executor:
        logs = await executor.logs(reference.run_id)
    assert "boosting: Ray Train, 2 workers" in logs
    assert "boosting: 40 rounds on 2 worker(s)" in logs
    assert "total number of machines: 2" in logs  # LightGBM's own network, as Ray set it up


async def test_starting_a_run_twice_submits_one_ray_job(world: World) -> None:
    spec = world.spec("twice", entrypoint=PROBE_ENTRYPOINT, hyperparams={})
    async with world.open() as first, world.open() as second:
        await asyncio.gather(first.start(spec), second.start(spec), first.start(spec))
        seen = await _settle(first, spec.run_id)
        await second.start(spec)  # after it finished: still nothing new
        assert (await _settle(second, spec.run_id)).progress == seen.progress
        logs = await first.logs(spec.run_id)
        jobs = await asyncio.to_thread(first._jobs().list_jobs)
    assert seen.state is RunState.SUCCEEDED, logs
    assert logs.count("probe: entrypoint ran") == 1
    mine = first.submission_id(spec.run_id)
    # Other tests on this session's cluster run the same run id under their own prefix.
    ours = [
        j.submission_id
        for j in jobs
        if (j.metadata or {}).get("covenant_run_id") == spec.run_id
        and j.submission_id.startswith(mine.removesuffix(spec.run_id))
    ]
    assert ours == [mine]


async def test_attempt_two_of_the_same_spec_gives_the_same_model(
    world: World, reference: RunObservation
) -> None:
    again = await _run(world, world.spec("boost", attempt=2))
    assert _one(again, "completed").data["outputs"] == _one(reference, "completed").data["outputs"]


async def test_a_killed_driver_is_lost_and_attempt_two_resumes_to_the_same_model(
    world: World, reference: RunObservation
) -> None:
    slow = world.spec("preempted", hyperparams={"round_sleep_s": 0.5})
    async with world.open() as executor:
        await executor.start(slow)
        await _until(executor, slow.run_id, "checkpoint")
        info = await asyncio.to_thread(
            executor._jobs().get_job_info, executor.submission_id(slow.run_id)
        )
        driver = info.driver_info.pid
        assert int(driver) in run_processes(slow.run_id, world.cluster.address)
        os.kill(int(driver), signal.SIGKILL)
        lost = await _settle(executor, slow.run_id)
        logs = await executor.logs(slow.run_id)
    assert lost.state is RunState.LOST, logs[-4000:]
    assert lost.exit_code is not None
    assert lost.exit_code != 0
    assert not any(p.kind in ("completed", "failed") for p in lost.progress)
    assert (
        await _gone(slow.run_id, world.cluster.address) == []
    )  # Ray took the trainer's workers down with it
    checkpoints = [p for p in lost.progress if p.kind == "checkpoint"]
    assert checkpoints
    last = checkpoints[-1].data
    assert last["step"] < ROUNDS
    resumed = await _run(world, world.spec("preempted", attempt=2, resume_from=last["artifact_id"]))
    assert _steps(resumed)[0] == last["step"] + EVERY
    assert _model(resumed) == _model(reference)


async def test_cancel_stops_the_job_and_every_process_of_it(world: World) -> None:
    spec = world.spec("cancelled", hyperparams={"round_sleep_s": 1.0})
    async with world.open() as executor:
        await executor.start(spec)
        await _until(executor, spec.run_id, "checkpoint")
        assert run_processes(spec.run_id, world.cluster.address)
        await executor.cancel(spec.run_id)
        # Ray's view when cancel returns: the job stopped, its supervisor and actors dead;
        # the raylet reaps their processes (and idle workers started for the job's
        # runtime env) a moment later.
        left = await _gone(spec.run_id, world.cluster.address, timeout_s=20)
        assert left == [], [_cmdline(pid) for pid in left]
        seen = await executor.observe(spec.run_id)
        assert seen.state is RunState.CANCELLED
        await executor.cancel(spec.run_id)  # again: a no-op
        assert (await executor.observe(spec.run_id)).state is RunState.CANCELLED


async def test_a_new_executor_observes_runs_another_one_submitted(
    world: World, reference: RunObservation
) -> None:
    async with world.open() as other:
        seen = await other.observe(reference.run_id)
        assert seen.state is RunState.SUCCEEDED
        assert seen.progress == reference.progress
        with pytest.raises(KeyError):
            await other.observe("never-started.a1")
        with pytest.raises(KeyError):
            await other.logs("never-started.a1")
        await other.cancel("never-started.a1")
        await other.cancel(reference.run_id)
    unrelated = RayExecutor(world.cluster.address, world.blobs.as_uri(), prefix="covenant-x-")
    with pytest.raises(KeyError):  # another prefix: another set of runs
        await unrelated.observe(reference.run_id)


async def test_the_same_entrypoint_trains_in_process_on_the_local_executor(
    world: World, reference: RunObservation
) -> None:
    spec = world.spec("boost-local", workers=1)
    executor = LocalExecutor(world.workdir / "local-runs", world.blobs.as_uri())
    try:
        await executor.start(spec)
        async with asyncio.timeout(300):
            while True:
                seen = await executor.observe(spec.run_id)
                if seen.state is not RunState.RUNNING:
                    break
                await asyncio.sleep(0.1)
        logs = await executor.logs(spec.run_id)
    finally:
        await executor.aclose()
    assert seen.state is RunState.SUCCEEDED, logs[-4000:]
    assert _one(seen, "completed").data["metrics"]["world_size"] == 1.0
    assert _steps(seen) == [10, 20, 30, 40]
    assert "Ray Train" not in logs
    # Reproducible per executor, not across them: one process grows other trees.
    assert _model(seen) != _model(reference)
