"""The Executor contract, stated once and run against every adapter, on real runs.

``covenant.training.executors.protocol`` promises what any place that runs training
gives the control plane: ``start`` is idempotent per run id, ``observe`` tells
running from succeeded, failed (the launcher said why), lost (killed from outside:
preemption) and cancelled, and the outputs are content-addressed, so the same spec
gives the same artifact ids on every attempt and a resumed run ends where the
uninterrupted one did. An adapter joins by describing, in an :class:`ExecutorHarness`,
how to open it over a folder and how to kill a run's processes from outside, and by
one line in :data:`HARNESSES`; the Ray executor joins the same way.

The runs train ``examples/digits`` for real (committed to a temp git repository by
``training_repo``), or the ``probe`` entrypoint where the test is about the launcher.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import dataclasses
import hashlib
import io
import json
import os
import signal
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from covenant.blobs import FolderBlobStore
from covenant.training.executors import DatasetInput, Executor, RunObservation, RunSpec, RunState
from covenant.training.executors.local import LocalExecutor
from covenant.training.executors.ray import RayExecutor
from covenant.training.progress import Progress
from ray_cluster import run_processes
from training_repo import DIGITS_ENTRYPOINT, PROBE_ENTRYPOINT, digits_data, make_training_repo

# --------------------------------------------------------------------------------------
# What an adapter provides to be tested
# --------------------------------------------------------------------------------------


class ExecutorHarness(abc.ABC):
    """How the suite opens executors of one adapter and breaks their runs."""

    def prepare(self, request: pytest.FixtureRequest) -> None:  # noqa: B027
        """Get what the adapter needs from the session (a cluster, say); once per world."""

    @abc.abstractmethod
    def open(self, workdir: Path, blobs_url: str) -> AbstractAsyncContextManager[Executor]:
        """A new executor instance; every instance over one ``workdir`` sees the same runs
        (as a control plane restarted on the same machine would)."""

    @abc.abstractmethod
    def kill(self, executor: Executor, run_id: str) -> None:
        """SIGKILL every process of the run, the way a node dies or a spot VM goes."""

    @abc.abstractmethod
    def alive(self, executor: Executor, run_id: str) -> bool:
        """Whether a process of the run still exists (not counting unreaped zombies)."""

    @abc.abstractmethod
    def leftovers(self, executor: Executor, run_id: str) -> list[Path]:
        """The run's ephemeral work folders that still exist."""


class LocalHarness(ExecutorHarness):
    """:class:`LocalExecutor`, with runs under ``workdir/runs``."""

    @asynccontextmanager
    async def open(self, workdir: Path, blobs_url: str) -> AsyncIterator[Executor]:
        executor = LocalExecutor(workdir / "runs", blobs_url, grace_s=2.0)
        try:
            yield executor
        finally:
            await executor.aclose()

    def _pid(self, executor: Executor, run_id: str) -> int:
        assert isinstance(executor, LocalExecutor)
        return int(json.loads((executor.run_dir(run_id) / "process.json").read_text())["pid"])

    def kill(self, executor: Executor, run_id: str) -> None:
        os.killpg(self._pid(executor, run_id), signal.SIGKILL)

    def alive(self, executor: Executor, run_id: str) -> bool:
        try:
            stat = Path(f"/proc/{self._pid(executor, run_id)}/stat").read_text()
        except FileNotFoundError:
            return False
        return stat[stat.rindex(")") + 2] not in "ZX"

    def leftovers(self, executor: Executor, run_id: str) -> list[Path]:
        assert isinstance(executor, LocalExecutor)
        return sorted(executor.run_dir(run_id).glob("work-*"))


class RayHarness(ExecutorHarness):
    """:class:`RayExecutor` on the session's local Ray cluster (``tests/ray_cluster.py``),
    its submission ids prefixed per workdir and the launcher's run folders under
    ``workdir/ray-runs``. A run's processes are the ones carrying its
    ``COVENANT_RUN_ID`` (the launcher, the job's supervisor, the actors it starts)."""

    address = ""

    def prepare(self, request: pytest.FixtureRequest) -> None:
        self.address = request.getfixturevalue("ray_cluster").address

    @asynccontextmanager
    async def open(self, workdir: Path, blobs_url: str) -> AsyncIterator[Executor]:
        prefix = f"covenant-{hashlib.sha256(str(workdir).encode()).hexdigest()[:8]}-"
        executor = RayExecutor(
            self.address, blobs_url, prefix=prefix, work_root=str(workdir / "ray-runs")
        )
        try:
            yield executor
        finally:
            await executor.aclose()

    def kill(self, executor: Executor, run_id: str) -> None:
        for pid in run_processes(run_id, self.address):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def alive(self, executor: Executor, run_id: str) -> bool:
        # Ray reports a job stopped and its actors dead a moment before the raylet has
        # reaped their processes: alive means still there after that moment.
        deadline = time.monotonic() + 20
        while run_processes(run_id, self.address):
            if time.monotonic() > deadline:
                return True
            time.sleep(0.2)
        return False

    def leftovers(self, executor: Executor, run_id: str) -> list[Path]:
        assert isinstance(executor, RayExecutor)
        run_dir = executor.run_dir(run_id)
        assert run_dir is not None
        return sorted(Path(run_dir).glob("work-*"))


HARNESSES = [
    pytest.param(LocalHarness(), id="local"),
    pytest.param(RayHarness(), id="ray", marks=pytest.mark.ray),
]
"""Every Executor adapter; adding one is adding its harness here."""


# --------------------------------------------------------------------------------------
# The world every test shares: code at a commit, a dataset, one reference run
# --------------------------------------------------------------------------------------


@dataclasses.dataclass
class World:
    harness: ExecutorHarness
    workdir: Path
    blobs: Path
    repo: str
    commit: str
    digits: DatasetInput
    reference: RunObservation | None = None

    @property
    def blobs_url(self) -> str:
        return self.blobs.as_uri()

    def open(self) -> AbstractAsyncContextManager[Executor]:
        return self.harness.open(self.workdir, self.blobs_url)

    def spec(self, job_id: str, *, attempt: int = 1, **changes: Any) -> RunSpec:
        base = RunSpec(
            job_id=job_id,
            attempt=attempt,
            code_repo=self.repo,
            code_commit=self.commit,
            entrypoint=DIGITS_ENTRYPOINT,
            datasets=(self.digits,),
            hyperparams={"epochs": 4},
            seed=7,
        )
        return dataclasses.replace(base, **changes)


async def _put(blobs: Path, data: bytes) -> str:
    async with FolderBlobStore(blobs) as store:
        return (await store.put(source=io.BytesIO(data), media_type="text/csv")).artifact_id


async def _settle(executor: Executor, run_id: str) -> RunObservation:
    """The run's observation once it is no longer running."""
    while True:
        seen = await executor.observe(run_id)
        if seen.state is not RunState.RUNNING:
            return seen
        await asyncio.sleep(0.1)


async def _until(executor: Executor, run_id: str, kind: str) -> RunObservation:
    """The run's observation once it has printed a ``kind`` line (while running)."""
    while True:
        seen = await executor.observe(run_id)
        if any(p.kind == kind for p in seen.progress):
            return seen
        assert seen.state is RunState.RUNNING, (seen, await executor.logs(run_id))
        await asyncio.sleep(0.05)


async def _run(world: World, spec: RunSpec) -> RunObservation:
    async with world.open() as executor:
        await executor.start(spec)
        seen = await _settle(executor, spec.run_id)
        assert world.blobs_url not in await executor.logs(spec.run_id)
        return seen


def _one(seen: RunObservation, kind: str) -> Progress:
    found = [p for p in seen.progress if p.kind == kind]
    assert len(found) == 1, seen
    return found[0]


def _model(seen: RunObservation) -> str:
    assert seen.state is RunState.SUCCEEDED, seen
    return str(_one(seen, "completed").data["outputs"]["model.onnx"])


@pytest.fixture(scope="module", params=HARNESSES)
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> World:
    harness = request.param
    assert isinstance(harness, ExecutorHarness)
    harness.prepare(request)
    workdir = tmp_path_factory.mktemp("executor")
    repo, commit = make_training_repo(workdir / "repo")
    blobs = workdir / "blobs"
    artifact_id = asyncio.run(_put(blobs, digits_data().digits_csv()))
    found = World(
        harness, workdir, blobs, repo, commit, DatasetInput("digits", artifact_id, artifact_id)
    )
    found.reference = asyncio.run(_run(found, found.spec("reference")))
    return found


@pytest.fixture
def reference(world: World) -> RunObservation:
    assert world.reference is not None
    return world.reference


# --------------------------------------------------------------------------------------
# Success, idempotency, reproducibility
# --------------------------------------------------------------------------------------


async def test_a_run_succeeds_with_its_outputs_in_the_blob_store(
    world: World, reference: RunObservation
) -> None:
    assert reference.state is RunState.SUCCEEDED
    assert reference.exit_code == 0
    started, completed = _one(reference, "started"), _one(reference, "completed")
    assert started.data["record"]["code"]["commit"] == world.commit
    assert started.data["record"]["datasets"] == {"digits": world.digits.checksum}
    assert completed.data["record"] == started.data["record"]
    outputs = completed.data["outputs"]
    assert sorted(outputs) == ["drift-profile.json", "metrics.json", "model.onnx", "weights.json"]
    assert [p.data["step"] for p in reference.progress if p.kind == "checkpoint"] == [1, 2, 3, 4]
    assert 0.5 < completed.data["metrics"]["accuracy"] <= 1.0
    async with FolderBlobStore(world.blobs) as store:
        for artifact_id in outputs.values():
            assert await store.verify(artifact_id) == artifact_id.removeprefix("sha256:")


async def test_the_model_is_a_working_onnx_classifier(
    world: World, reference: RunObservation
) -> None:
    onnxruntime = pytest.importorskip("onnxruntime")
    import numpy as np

    async with FolderBlobStore(world.blobs) as store:
        chunks = [c async for c in await store.open(_model(reference))]
    session = onnxruntime.InferenceSession(b"".join(chunks), providers=["CPUExecutionProvider"])
    data = digits_data()
    path = world.workdir / "digits.csv"
    x, y = data.load(data.export(path))
    labels = session.run(None, {"pixels": x.astype(np.float32)})[0]
    assert float(np.mean(labels == y)) > 0.8


async def test_the_work_folder_is_removed_after_the_run(world: World) -> None:
    async with world.open() as executor:
        assert world.harness.leftovers(executor, "reference.a1") == []


async def test_starting_a_run_twice_starts_one_process(world: World) -> None:
    spec = world.spec("twice", entrypoint=PROBE_ENTRYPOINT)
    async with world.open() as first, world.open() as second:
        await asyncio.gather(first.start(spec), second.start(spec), first.start(spec))
        seen = await _settle(first, spec.run_id)
        await second.start(spec)  # after it finished: still nothing new
        assert (await _settle(second, spec.run_id)).progress == seen.progress
        logs = await first.logs(spec.run_id)
    assert seen.state is RunState.SUCCEEDED, logs
    _one(seen, "started")
    assert logs.count("probe: entrypoint ran") == 1


async def test_attempt_two_of_the_same_spec_gives_bit_identical_outputs(
    world: World, reference: RunObservation
) -> None:
    again = await _run(world, world.spec("reference", attempt=2))
    assert _one(again, "completed").data["outputs"] == _one(reference, "completed").data["outputs"]


async def test_a_killed_run_is_lost_and_resuming_it_ends_with_the_same_model(
    world: World, reference: RunObservation
) -> None:
    slow = world.spec("preempted", hyperparams={"epochs": 4, "epoch_sleep_s": 30})
    async with world.open() as executor:
        await executor.start(slow)
        await _until(executor, slow.run_id, "checkpoint")
        world.harness.kill(executor, slow.run_id)
        lost = await _settle(executor, slow.run_id)
        assert lost.state is RunState.LOST, await executor.logs(slow.run_id)
        assert not world.harness.alive(executor, slow.run_id)
    checkpoints = [p for p in lost.progress if p.kind == "checkpoint"]
    assert checkpoints
    assert not any(p.kind in ("completed", "failed") for p in lost.progress)
    resumed = await _run(
        world,
        world.spec(
            "preempted",
            attempt=2,
            resume_from=checkpoints[-1].data["artifact_id"],
        ),
    )
    assert resumed.state is RunState.SUCCEEDED
    first_step = min(p.data["step"] for p in resumed.progress if p.kind == "checkpoint")
    assert first_step == checkpoints[-1].data["step"] + 1
    assert _model(resumed) == _model(reference)


async def test_one_byte_changed_in_the_dataset_changes_the_model(
    world: World, reference: RunObservation
) -> None:
    data = bytearray(digits_data().digits_csv())
    second = data.index(b"\n", data.index(b"\n") + 1) + 1  # image 1 (image 0 is held out)
    at = second + 2  # its first pixel, after "1,"
    assert data[second:at] == b"1,"
    data[at : at + 1] = b"9" if data[at : at + 1] != b"9" else b"8"
    artifact_id = await _put(world.blobs, bytes(data))
    changed = DatasetInput("digits", artifact_id, artifact_id)
    seen = await _run(world, world.spec("one-byte", datasets=(changed,)))
    assert _model(seen) != _model(reference)


async def test_another_seed_changes_the_model(world: World, reference: RunObservation) -> None:
    seen = await _run(world, world.spec("other-seed", seed=8))
    assert _model(seen) != _model(reference)


# --------------------------------------------------------------------------------------
# Refusals and failures
# --------------------------------------------------------------------------------------


def _failed(seen: RunObservation) -> str:
    assert seen.state is RunState.FAILED, seen
    assert seen.exit_code not in (0, None)
    return str(_one(seen, "failed").data["reason"])


async def test_a_dataset_whose_bytes_are_not_the_recorded_ones_is_refused_before_any_code(
    world: World,
) -> None:
    other = await _put(world.blobs, b"label,p0\n1,2\n")
    wrong = DatasetInput("digits", world.digits.artifact_id, other)
    spec = world.spec("tampered", entrypoint=PROBE_ENTRYPOINT, datasets=(wrong,))
    async with world.open() as executor:
        await executor.start(spec)
        seen = await _settle(executor, spec.run_id)
        logs = await executor.logs(spec.run_id)
    reason = _failed(seen)
    assert "'digits'" in reason
    assert other in reason
    assert world.digits.checksum in reason
    assert "probe:" not in logs  # neither imported nor called
    assert not any(p.kind in ("started", "checkpoint") for p in seen.progress)


async def test_a_commit_that_is_not_forty_hex_is_refused_before_checkout(world: World) -> None:
    for commit in ("main", world.commit.upper(), world.commit[:12]):
        seen = await _run(world, world.spec(f"bad-{commit[:6]}", code_commit=commit))
        assert "40-hex" in _failed(seen)


async def test_an_unknown_commit_fails_with_a_clear_reason(world: World) -> None:
    seen = await _run(world, world.spec("unknown-commit", code_commit="0" * 40))
    reason = _failed(seen)
    assert f"cannot fetch {'0' * 40}" in reason


async def test_an_entrypoint_that_raises_fails_with_the_exception(world: World) -> None:
    spec = world.spec("raises", entrypoint=PROBE_ENTRYPOINT, hyperparams={"raise": "no GPU here"})
    seen = await _run(world, spec)
    assert _failed(seen) == "RuntimeError: no GPU here"
    _one(seen, "started")


async def test_an_unknown_run_is_a_key_error_and_cancelling_it_is_a_no_op(world: World) -> None:
    async with world.open() as executor:
        with pytest.raises(KeyError):
            await executor.observe("never-started.a1")
        with pytest.raises(KeyError):
            await executor.logs("never-started.a1")
        await executor.cancel("never-started.a1")
        await executor.cancel("reference.a1")  # finished: stays as it was
        assert (await executor.observe("reference.a1")).state is RunState.SUCCEEDED


# --------------------------------------------------------------------------------------
# Cancel, and a control plane that restarts
# --------------------------------------------------------------------------------------


async def test_cancel_stops_a_running_run(world: World) -> None:
    spec = world.spec("cancelled", entrypoint=PROBE_ENTRYPOINT, hyperparams={"sleep_s": 600})
    async with world.open() as executor:
        await executor.start(spec)
        await _until(executor, spec.run_id, "checkpoint")
        await executor.cancel(spec.run_id)
        assert not world.harness.alive(executor, spec.run_id)
        seen = await executor.observe(spec.run_id)
        assert seen.state is RunState.CANCELLED
        assert world.harness.leftovers(executor, spec.run_id) == []
        await executor.cancel(spec.run_id)  # again: a no-op


async def test_a_new_executor_observes_and_cancels_runs_another_one_started(world: World) -> None:
    spec = world.spec("restarted", entrypoint=PROBE_ENTRYPOINT, hyperparams={"sleep_s": 600})
    async with world.open() as before:
        await before.start(spec)
        await _until(before, spec.run_id, "checkpoint")
    async with world.open() as after:
        assert (await after.observe("reference.a1")).state is RunState.SUCCEEDED
        assert (await after.observe(spec.run_id)).state is RunState.RUNNING
        await after.start(spec)  # the restarted control plane redelivers the dispatch
        await after.cancel(spec.run_id)
        assert not world.harness.alive(after, spec.run_id)
        seen = await after.observe(spec.run_id)
    assert seen.state is RunState.CANCELLED
    _one(seen, "started")
