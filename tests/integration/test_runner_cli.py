"""``covenant runner`` on its own: it starts a run the log dispatches, on this
host's local executor, reports it (with its run record), and stops cleanly on
SIGTERM. (No artifacts worker runs here, so it rightly never reports a success.)"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from pathlib import Path

from covenant.blobs import FolderBlobStore
from covenant.bus import open_bus
from covenant.events.training import ReportRun, RunReportKind
from covenant.testing import builders, publish, wait_for
from covenant.topics import ALL_TOPICS
from training_repo import PROBE_ENTRYPOINT, make_training_repo


def start_runner(bus_url: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "covenant", "runner", "--bus", bus_url],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def test_covenant_runner_starts_a_dispatched_run_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    bus_url = f"sqlite:///{home / 'log.sqlite3'}"
    repo, commit = make_training_repo(tmp_path / "repo")
    async with FolderBlobStore(home / "blobs") as blobs:
        await blobs.put(source=io.BytesIO(b"d1"), media_type="text/plain")  # sha("d1")
    env = os.environ | {"COVENANT_HOME": str(home)}
    async with open_bus(bus_url) as bus:
        await bus.ensure_topics(ALL_TOPICS)
        dispatch = builders.start_run(
            "job-r", code_ref=f"{repo}#{commit}", entrypoint=PROBE_ENTRYPOINT
        )
        await publish(bus, dispatch)
        runner = start_runner(bus_url, env)
        try:
            done = await wait_for(
                bus,
                ReportRun,
                lambda r: r.job_id == "job-r" and r.kind is RunReportKind.STARTED,
                timeout_s=120,
            )
        finally:
            runner.send_signal(signal.SIGTERM)
            _, errors = runner.communicate(timeout=60)
    assert runner.returncode == 0, errors.decode()[-2000:]
    assert done.meta.correlation_id == dispatch.meta.correlation_id
    assert (home / "runs" / "job-r.a1" / "log").is_file()
    assert done.record is not None
    assert done.record.code_commit == commit
