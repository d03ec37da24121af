"""Training dispatch: how fast the control plane turns submits into runs.

Two measurements, side by side in one run:

* **dispatch throughput** — N submits published at once (default 500) through
  the real policy, allocator and training workers on the chosen log, until N
  ``run.start`` dispatches are committed: dispatches/s, and each job's
  submit → dispatch latency (p50/p99). The pool is sized so no job waits for
  compute, so this is the control plane's own rate, not the machine's.
* **submit → running on the local executor** — M jobs (default 10), one after
  another, from the submit to the launcher's ``started`` line (code checked out,
  data verified, about to call the entrypoint), against the same launcher
  started by hand with ``subprocess`` (what the control plane adds on top).

Usage::

    .venv/bin/python bench/training_dispatch.py [--jobs 500] [--runs 10] [--bus kafka://…]

Prints a table and ratios (``--json`` for machines); no thresholds.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from covenant.blobs import FolderBlobStore  # noqa: E402
from covenant.bus import Bus, open_bus  # noqa: E402
from covenant.events.contract import default_codec  # noqa: E402
from covenant.events.runs import StartRun  # noqa: E402
from covenant.events.training import SubmitTraining, TrainingStarted  # noqa: E402
from covenant.platform import Resources, build_workers  # noqa: E402
from covenant.testing import builders, collect, publish, running  # noqa: E402
from covenant.topics import ALL_TOPICS, RUN_COMMANDS, TRAIN_EVENTS  # noqa: E402
from covenant.training.executors.local import LocalExecutor  # noqa: E402
from covenant.training.executors.protocol import DatasetInput, RunSpec  # noqa: E402
from covenant.training.pools import Pool  # noqa: E402
from covenant.training.runner import Runner, RunnerSettings  # noqa: E402
from training_repo import PROBE_ENTRYPOINT, make_training_repo  # noqa: E402

BIG = Pool(
    name="cpu-bench",
    accelerator=None,
    accelerators=0,
    cpus=100_000,
    memory_gb=1_000_000,
    hardware_class="cpu-x86_64",
    cost_rate=Decimal("0.01"),
)


def _submit(job_id: str, repo: str, commit: str) -> SubmitTraining:
    message: SubmitTraining = SubmitTraining.create(
        subject=job_id,
        actor="bench",
        producer="bench",
        job_id=job_id,
        model_family="probe",
        team="bench",
        dataset_refs=["tiny:v1"],
        code_ref=f"{repo}#{commit}",
        entrypoint=PROBE_ENTRYPOINT,
    )
    return message


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _dispatch(bus: Bus, jobs: int, repo: str, commit: str, tag: str) -> dict[str, float]:
    workers = build_workers(
        ["policy", "allocator", "training"], resources=Resources(pools={BIG.name: BIG})
    )
    async with running(bus, workers):
        await asyncio.sleep(1.0)  # let the workers join and rebuild before the clock starts
        submits = [_submit(f"{tag}-{i:04d}", repo, commit) for i in range(jobs)]
        began = time.perf_counter()
        await publish(bus, *submits)

        def done(seen: list[Any]) -> bool:
            return sum(isinstance(m, StartRun) and m.job_id.startswith(tag) for m in seen) >= jobs

        dispatched = await collect(bus, RUN_COMMANDS, until=done, timeout_s=600)
        took = time.perf_counter() - began
    sent = {s.job_id: s.meta.occurred_at for s in submits}
    latency = [
        (m.meta.occurred_at - sent[m.job_id]).total_seconds() * 1000
        for m in dispatched
        if isinstance(m, StartRun) and m.job_id in sent
    ]
    return {
        "jobs": jobs,
        "seconds": took,
        "dispatches_per_s": jobs / took,
        "latency_p50_ms": _quantile(latency, 0.5),
        "latency_p99_ms": _quantile(latency, 0.99),
    }


async def _running(
    bus: Bus, runs: int, repo: str, commit: str, home: Path, data: str
) -> dict[str, float]:
    async with FolderBlobStore(home / "blobs") as blobs:
        executor = LocalExecutor(home / "runs", f"file://{home / 'blobs'}")
        runner = Runner(
            bus=bus,
            codec=default_codec(),
            blobs=blobs,
            executors={"local": executor},
            settings=RunnerSettings(interval_s=0.05),
        )
        workers = build_workers(
            ["policy", "allocator", "artifacts", "training"],
            resources=Resources(blobs=blobs, pools={BIG.name: BIG}),
        )
        stop = asyncio.Event()
        ours: list[float] = []
        async with running(bus, workers):
            task = asyncio.create_task(runner.run(stop))
            for i in range(runs):
                job = _submit(f"run-{i:03d}", repo, commit)
                began = time.perf_counter()
                await publish(bus, job)
                await collect(
                    bus,
                    TRAIN_EVENTS,
                    until=lambda seen, j=job.job_id: any(
                        isinstance(m, TrainingStarted) and m.job_id == j for m in seen
                    ),
                    timeout_s=120,
                )
                ours.append((time.perf_counter() - began) * 1000)
            stop.set()
            await task
        if "--chain" in sys.argv:
            await _chain(bus, "run-000")
        raw: list[float] = []
        for i in range(runs):
            spec = RunSpec(
                job_id=f"raw-{i}",
                attempt=1,
                code_repo=repo,
                code_commit=commit,
                entrypoint=PROBE_ENTRYPOINT,
                datasets=(DatasetInput("tiny:v1", data, data),),
            )
            began = time.perf_counter()
            child = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "covenant.training.launch",
                    "--spec-json",
                    spec.to_json(),
                    "--executor",
                    "local",
                ],
                stdout=subprocess.PIPE,
                text=True,
                env={"COVENANT_BLOBS": f"file://{home / 'blobs'}", "PATH": "/usr/bin:/bin"},
            )
            assert child.stdout is not None
            for line in child.stdout:
                if '"kind":"started"' in line:
                    raw.append((time.perf_counter() - began) * 1000)
                    break
            child.wait()
    return {
        "runs": runs,
        "covenant_p50_ms": statistics.median(ours),
        "raw_launcher_p50_ms": statistics.median(raw),
        "ratio": statistics.median(ours) / statistics.median(raw),
    }


async def _chain(bus: Bus, job_id: str) -> None:
    """Where one job's submit → running time went, hop by hop."""
    from covenant.topics import (
        ALLOCATION_COMMANDS,
        ALLOCATION_EVENTS,
        POLICY_COMMANDS,
        POLICY_EVENTS,
        TRAIN_COMMANDS,
    )

    seen = []
    for topic in (
        TRAIN_COMMANDS,
        TRAIN_EVENTS,
        POLICY_COMMANDS,
        POLICY_EVENTS,
        ALLOCATION_COMMANDS,
        ALLOCATION_EVENTS,
        RUN_COMMANDS,
    ):
        seen += [m for m in await collect(bus, topic)]
    first = next(m for m in seen if isinstance(m, SubmitTraining) and m.job_id == job_id)
    flow = sorted(
        (m for m in seen if m.meta.correlation_id == first.meta.correlation_id),
        key=lambda m: m.meta.occurred_at,
    )
    for m in flow:
        print(
            f"  +{(m.meta.occurred_at - first.meta.occurred_at).total_seconds() * 1000:7.0f} ms "
            f"{m.TYPE} ({m.meta.producer})"
        )


async def main(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="covenant-bench-") as folder:
        home = Path(folder)
        repo, commit = make_training_repo(home / "repo")
        url = args.bus or f"sqlite:///{home / 'log.sqlite3'}"
        async with open_bus(url) as bus:
            await bus.ensure_topics(ALL_TOPICS)
            async with FolderBlobStore(home / "blobs") as blobs:
                data = (
                    await blobs.put(source=io.BytesIO(b"x,y\n1,2\n"), media_type="text/csv")
                ).artifact_id
                await publish(
                    bus,
                    builders.artifact_stored("tiny", artifact_id=data),
                    builders.dataset_registered("tiny:v1", checksum=data),
                )
            dispatch = await _dispatch(bus, args.jobs, repo, commit, f"d{int(time.time())}")
        # The runs get a log of their own: the runner would otherwise start every
        # job the dispatch measurement dispatched.
        runs_url = args.bus_runs or f"sqlite:///{home / 'runs-log.sqlite3'}"
        async with open_bus(runs_url) as bus:
            await bus.ensure_topics(ALL_TOPICS)
            await publish(
                bus,
                builders.artifact_stored("tiny", artifact_id=data),
                builders.dataset_registered("tiny:v1", checksum=data),
            )
            started = await _running(bus, args.runs, repo, commit, home, data)
    return {"bus": url.split(":", 1)[0], "dispatch": dispatch, "submit_to_running": started}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--bus", default="")
    parser.add_argument("--bus-runs", default="", help="a second, empty log for the runs")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--chain", action="store_true", help="print one job's hops")
    options = parser.parse_args()
    result = asyncio.run(main(options))
    if options.json:
        print(json.dumps(result, indent=2))
    else:
        d, r = result["dispatch"], result["submit_to_running"]
        print(f"log: {result['bus']}")
        print(
            f"dispatch: {d['jobs']} jobs in {d['seconds']:.1f} s = {d['dispatches_per_s']:.0f}/s; "
            f"submit->dispatch p50 {d['latency_p50_ms']:.0f} ms, p99 {d['latency_p99_ms']:.0f} ms"
        )
        print(
            f"submit->running (local): Covenant p50 {r['covenant_p50_ms']:.0f} ms, "
            f"raw launcher p50 {r['raw_launcher_p50_ms']:.0f} ms, ratio {r['ratio']:.2f}"
        )
