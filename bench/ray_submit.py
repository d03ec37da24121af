"""Submit→running latency of a Ray job through RayExecutor, against Ray's own
JobSubmissionClient.submit_job on the same cluster, in the same run.

Usage::

    .venv/bin/python bench/ray_submit.py [--address http://127.0.0.1:8265] [--jobs 5]

Without ``--address`` it starts a local cluster (tests/ray_cluster.py's LocalRay, as the
tests do) and reports how long that took. Both sides submit the same entrypoint (the
launcher, with a spec whose commit does not exist, so each job ends within seconds)
and the same runtime env; "running" is the moment Ray's job status leaves PENDING
(polled every 10 ms), which is when the job's supervisor has started the entrypoint.
The two kinds of submission alternate, so load on the machine hits both alike.
Prints medians and the ratio RayExecutor / raw; no thresholds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from covenant.training.executors import RunSpec  # noqa: E402
from covenant.training.executors.ray import RUN_ID_ENV, RayExecutor  # noqa: E402


def _wait_running(client: Any, submission_id: str) -> float:
    while True:
        status = str(client.get_job_status(submission_id))
        if "PENDING" not in status:
            return time.perf_counter()
        time.sleep(0.01)


def _spec(tag: str) -> RunSpec:
    return RunSpec(
        job_id=f"bench-{tag}",
        attempt=1,
        code_repo=str(ROOT),
        code_commit="0" * 40,
        entrypoint="probe:train",
    )


async def _measure(address: str, jobs: int) -> None:
    from ray.job_submission import JobSubmissionClient

    blobs = f"file:///tmp/covenant-bench-blobs-{uuid.uuid4().hex[:6]}"
    executor = RayExecutor(address, blobs, prefix=f"bench-{uuid.uuid4().hex[:6]}-")
    raw = JobSubmissionClient(executor.address)
    ours_submit, ours_running, raw_submit, raw_running = [], [], [], []
    for i in range(jobs):
        spec = _spec(f"ours{i}")
        began = time.perf_counter()
        await executor.start(spec)
        ours_submit.append(time.perf_counter() - began)
        client = executor._jobs()
        done = await asyncio.to_thread(_wait_running, client, executor.submission_id(spec.run_id))
        ours_running.append(done - began)

        other = _spec(f"raw{i}")
        submission_id = f"raw-{uuid.uuid4().hex[:10]}"
        env = {"COVENANT_BLOBS": blobs, RUN_ID_ENV: other.run_id}
        began = time.perf_counter()
        raw.submit_job(
            entrypoint=executor.entrypoint(other),
            submission_id=submission_id,
            runtime_env={"env_vars": env},
            entrypoint_num_cpus=0,
        )
        raw_submit.append(time.perf_counter() - began)
        raw_running.append(_wait_running(raw, submission_id) - began)

    def med(values: list[float]) -> float:
        return statistics.median(values) * 1000

    print(f"jobs per side: {jobs}")
    print(
        f"submit call      RayExecutor {med(ours_submit):7.1f} ms   raw {med(raw_submit):7.1f} ms"
    )
    print(
        f"submit→running   RayExecutor {med(ours_running):7.1f} ms   raw {med(raw_running):7.1f} ms"
    )
    print(
        f"ratio (RayExecutor / raw): submit {med(ours_submit) / med(raw_submit):.2f}, "
        f"submit→running {med(ours_running) / med(raw_running):.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", help="a running cluster's dashboard address")
    parser.add_argument("--jobs", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    cluster = None
    address = args.address
    if address is None:
        from ray_cluster import LocalRay

        cluster = LocalRay.start()
        print(f"local Ray cluster started in {cluster.start_s:.1f} s (ray start → dashboard up)")
        address = cluster.address
    try:
        asyncio.run(_measure(address, args.jobs))
    finally:
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    main()
