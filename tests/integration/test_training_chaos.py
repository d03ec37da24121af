"""Exactly-once dispatch under crashes: 50 jobs flow through the training worker
running as its own OS process, SIGKILLed at random moments and restarted, while
the policy, allocator and artifacts workers and the runner keep going. Every job
must then have run exactly once: one dispatch, one run folder, one start, one
completion, its entrypoint executed once; none lost, none twice."""

from __future__ import annotations

import asyncio
import io
import os
import random
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from covenant.blobs import FolderBlobStore
from covenant.bus import Bus
from covenant.events.contract import default_codec
from covenant.events.runs import StartRun
from covenant.events.training import (
    SubmitTraining,
    TrainingCompleted,
    TrainingPreempted,
    TrainingStarted,
)
from covenant.platform import Resources, build_workers
from covenant.testing import builders, collect, publish, running
from covenant.topics import ALL_TOPICS, RUN_COMMANDS, TRAIN_EVENTS
from covenant.training.executors.local import LocalExecutor
from covenant.training.pools import default_pools
from covenant.training.runner import Runner, RunnerSettings
from training_repo import PROBE_ENTRYPOINT, make_training_repo

JOBS = 50
KILLS = 5
pytestmark = pytest.mark.slow


def start_training_worker(bus_url: str, home: Path, log: Path) -> subprocess.Popen[bytes]:
    env = os.environ | {"COVENANT_HOME": str(home), "COVENANT_BLOBS": f"file://{home / 'blobs'}"}
    return subprocess.Popen(
        [sys.executable, "-m", "covenant", "worker", "training", "--bus", bus_url],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        env=env,
    )


async def test_a_sigkilled_training_worker_dispatches_every_job_exactly_once(
    bus: Bus, bus_url: str, tmp_path: Path
) -> None:
    await bus.ensure_topics(ALL_TOPICS)
    home = tmp_path / "home"
    blobs_dir = home / "blobs"
    repo, commit = make_training_repo(tmp_path / "repo")
    async with FolderBlobStore(blobs_dir) as blobs:
        data = await blobs.put(source=io.BytesIO(b"x,y\n1,2\n"), media_type="text/csv")
        await publish(
            bus,
            builders.artifact_stored("tiny", artifact_id=data.artifact_id),
            builders.dataset_registered("tiny:v1", checksum=data.artifact_id),
        )
        submits = [
            SubmitTraining.create(
                subject=f"job-{i:02d}",
                actor="alice@example.com",
                producer="test",
                job_id=f"job-{i:02d}",
                model_family="probe",
                team="vision",
                dataset_refs=["tiny:v1"],
                code_ref=f"{repo}#{commit}",
                entrypoint=PROBE_ENTRYPOINT,
            )
            for i in range(JOBS)
        ]
        executor = LocalExecutor(tmp_path / "runs", f"file://{blobs_dir}")
        runner = Runner(
            bus=bus,
            codec=default_codec(),
            blobs=blobs,
            executors={"local": executor},
            settings=RunnerSettings(interval_s=0.1),
        )
        resources = Resources(blobs=blobs, pools=default_pools(cpu_count=2, memory_gb=8))
        others = build_workers(["policy", "allocator", "artifacts"], resources=resources)
        stop = asyncio.Event()
        log = tmp_path / "training.log"
        rng = random.Random(11)
        async with running(bus, others):
            runner_task = asyncio.create_task(runner.run(stop))
            worker = start_training_worker(bus_url, home, log)
            try:
                kills = 0
                for start in range(0, JOBS, 5):
                    await publish(bus, *submits[start : start + 5])
                    await asyncio.sleep(rng.uniform(0.2, 1.0))
                    if kills < KILLS and rng.random() < 0.6:
                        worker.send_signal(signal.SIGKILL)
                        worker.wait()
                        kills += 1
                        worker = start_training_worker(bus_url, home, log)

                def all_done(seen: list[object]) -> bool:
                    return len({m.job_id for m in seen if isinstance(m, TrainingCompleted)}) >= JOBS

                events = await collect(bus, TRAIN_EVENTS, until=all_done, timeout_s=400)
            finally:
                worker.send_signal(signal.SIGTERM)
                worker.wait(timeout=60)
                stop.set()
                await runner_task
        assert kills >= 3, "the worker was not killed often enough to test anything"

    ids = [s.job_id for s in submits]
    starts = Counter(m.job_id for m in await collect(bus, RUN_COMMANDS) if isinstance(m, StartRun))
    started = Counter(m.job_id for m in events if isinstance(m, TrainingStarted))
    done = Counter(m.job_id for m in events if isinstance(m, TrainingCompleted))
    assert starts == Counter(ids), "dispatched other than once"
    assert started == Counter(ids)
    assert done == Counter(ids)
    assert not [m for m in events if isinstance(m, TrainingPreempted)]
    folders = sorted(p.name for p in (tmp_path / "runs").iterdir() if p.is_dir())
    assert folders == sorted(f"{i}.a1" for i in ids)
    for job_id in ids:
        text = (tmp_path / "runs" / f"{job_id}.a1" / "log").read_text()
        assert text.count("probe: entrypoint ran") == 1, job_id
