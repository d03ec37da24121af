"""A control plane SIGKILLed right after it started a local run: the run goes on, and
a new LocalExecutor on the same folder (in another process, so not the run's parent)
observes it and cancels it; and two processes starting the same run id concurrently
start it once."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from covenant.blobs import FolderBlobStore
from covenant.training.executors import DatasetInput, RunSpec, RunState
from covenant.training.executors.local import LocalExecutor
from training_repo import PROBE_ENTRYPOINT, make_training_repo

CONTROLLER = """
import asyncio, sys, time
from covenant.training.executors import RunSpec
from covenant.training.executors.local import LocalExecutor

async def main():
    executor = LocalExecutor(sys.argv[1], sys.argv[2])
    await executor.start(RunSpec.from_json(sys.argv[3]))
    print("started", flush=True)
    time.sleep(600)

asyncio.run(main())
"""


async def _spec(tmp_path: Path, job_id: str, sleep_s: float) -> tuple[RunSpec, str]:
    repo, commit = make_training_repo(tmp_path / "repo")
    blobs = tmp_path / "blobs"
    async with FolderBlobStore(blobs) as store:
        stored = await store.put(source=io.BytesIO(b"some data\n"), media_type="text/plain")
    dataset = DatasetInput("notes", stored.artifact_id, stored.artifact_id)
    spec = RunSpec(
        job_id=job_id,
        attempt=1,
        code_repo=repo,
        code_commit=commit,
        entrypoint=PROBE_ENTRYPOINT,
        datasets=(dataset,),
        hyperparams={"sleep_s": sleep_s},
    )
    return spec, blobs.as_uri()


def _controller(root: Path, blobs_url: str, spec: RunSpec) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CONTROLLER, str(root), blobs_url, spec.to_json()],
        stdout=subprocess.PIPE,
        text=True,
    )


async def test_a_run_outlives_the_control_plane_that_started_it(tmp_path: Path) -> None:
    spec, blobs_url = await _spec(tmp_path, "outlives", sleep_s=600)
    root = tmp_path / "runs"
    controller = _controller(root, blobs_url, spec)
    assert controller.stdout is not None
    assert await asyncio.to_thread(controller.stdout.readline) == "started\n"
    os.kill(controller.pid, signal.SIGKILL)
    await asyncio.to_thread(controller.wait)

    executor = LocalExecutor(root, blobs_url, grace_s=2.0)
    while True:
        seen = await executor.observe(spec.run_id)
        assert seen.state is RunState.RUNNING, await executor.logs(spec.run_id)
        if any(p.kind == "checkpoint" for p in seen.progress):
            break
        await asyncio.sleep(0.05)
    await executor.cancel(spec.run_id)
    seen = await executor.observe(spec.run_id)
    assert seen.state is RunState.CANCELLED
    assert not list((root / spec.run_id).glob("work-*"))


async def test_two_processes_starting_one_run_start_it_once(tmp_path: Path) -> None:
    spec, blobs_url = await _spec(tmp_path, "raced", sleep_s=0)
    root = tmp_path / "runs"
    controllers = [_controller(root, blobs_url, spec) for _ in range(3)]
    for controller in controllers:
        assert controller.stdout is not None
        assert await asyncio.to_thread(controller.stdout.readline) == "started\n"
        controller.kill()
        await asyncio.to_thread(controller.wait)
    executor = LocalExecutor(root, blobs_url)
    while (seen := await executor.observe(spec.run_id)).state is RunState.RUNNING:  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    logs = await executor.logs(spec.run_id)
    assert seen.state is RunState.SUCCEEDED, logs
    assert logs.count("probe: entrypoint ran") == 1
    completed = next(p for p in seen.progress if p.kind == "completed")
    assert sorted(completed.data["outputs"]) == ["nested/hello.txt", "notes.copy"]
    assert [p.name for p in root.iterdir()] == [spec.run_id]  # no staging folder left


async def test_a_run_whose_starter_died_before_recording_its_pid_is_not_taken_for_lost(
    tmp_path: Path,
) -> None:
    """The starter's death between the spawn and process.json must not make a live
    run look lost (a resume would then run the job twice): the launcher's own lock
    says it lives."""
    spec, blobs_url = await _spec(tmp_path, "orphan", sleep_s=30)
    root = tmp_path / "runs"
    await LocalExecutor(root, blobs_url).start(spec)
    run_dir = root / spec.run_id
    pid = int(json.loads((run_dir / "process.json").read_text())["pid"])
    (run_dir / "process.json").unlink()  # as if the starter died right after Popen
    other = LocalExecutor(root, blobs_url)
    assert (await other.observe(spec.run_id)).state is RunState.RUNNING
    os.killpg(pid, signal.SIGKILL)
    for _ in range(100):
        if (await other.observe(spec.run_id)).state is not RunState.RUNNING:
            break
        await asyncio.sleep(0.1)
    assert (await other.observe(spec.run_id)).state is RunState.LOST
