"""A real local Ray cluster for the tests, started once per session (``ray_cluster``).

``ray start --head`` runs in a session of its own, with every port it opens chosen
free (so it never meets another cluster on the machine), a short temp folder under
/tmp (Ray's socket paths must stay under the 107-byte limit), token authentication
off (``RAY_AUTH_MODE=disabled``) and the dashboard on, for job submission. Stopping
it signals that process group, then kills any process still naming the temp folder
(Ray starts some workers in sessions of their own), so nothing outlives the session.

Set ``COVENANT_TEST_RAY=http://host:8265`` to use a running cluster instead. When Ray
cannot start, the tests that need it fail with Ray's own output, never skip: a suite
that silently skipped its Ray tests would pass without testing Ray. Deselect them
with ``-m "not ray"`` where there is no Ray.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

RUN_ID_ENV = "COVENANT_RUN_ID"  # what RayExecutor gives every process of a run
RAY_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
_PORT_FLAGS = (
    "--port",
    "--dashboard-port",
    "--ray-client-server-port",
    "--dashboard-agent-listen-port",
    "--dashboard-agent-grpc-port",
    "--runtime-env-agent-port",
    "--metrics-export-port",
    "--node-manager-port",
    "--object-manager-port",
)


def _free_ports(count: int) -> list[int]:
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]


@dataclass
class LocalRay:
    """One head node on this machine.

    Attributes:
        address: the dashboard's job submission address (``http://127.0.0.1:<port>``).
        gcs_address: ``127.0.0.1:<port>``, for ``ray.init``.
        temp_dir: Ray's temp folder (logs, sockets).
        start_s: how long ``ray start`` took until the dashboard answered.
    """

    address: str
    gcs_address: str
    temp_dir: Path
    start_s: float
    _pgid: int | None = None

    @classmethod
    def start(cls, num_cpus: int = 2, timeout_s: float = 120.0) -> LocalRay:
        temp_dir = Path(tempfile.mkdtemp(prefix="cvray-", dir="/tmp"))
        ports = dict(zip(_PORT_FLAGS, _free_ports(len(_PORT_FLAGS)), strict=True))
        ray = Path(sys.executable).with_name("ray")
        command = [
            str(ray),
            "start",
            "--head",
            "--node-ip-address=127.0.0.1",
            f"--num-cpus={num_cpus}",
            f"--temp-dir={temp_dir}",
            "--include-dashboard=true",
            "--dashboard-host=127.0.0.1",
            "--disable-usage-stats",
            *(f"{flag}={port}" for flag, port in ports.items()),
        ]
        env = os.environ | RAY_ENV
        log = temp_dir / "ray-start.log"
        began = time.monotonic()
        with log.open("wb") as out:
            starter = subprocess.Popen(
                command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        cluster = cls(
            address=f"http://127.0.0.1:{ports['--dashboard-port']}",
            gcs_address=f"127.0.0.1:{ports['--port']}",
            temp_dir=temp_dir,
            start_s=0.0,
            _pgid=starter.pid,
        )
        try:
            code = starter.wait(timeout=timeout_s)
            if code != 0:
                raise RuntimeError(f"ray start exited with {code}")
            cluster._wait_dashboard(began + timeout_s)
        except BaseException as exc:
            tail = log.read_text(errors="replace")[-4000:]
            cluster.stop()
            raise RuntimeError(f"a local Ray cluster did not start ({exc}):\n{tail}") from exc
        cluster.start_s = time.monotonic() - began
        return cluster

    def _wait_dashboard(self, deadline: float) -> None:
        import httpx

        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.address}/api/version", timeout=2).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the dashboard at {self.address} never answered")
            time.sleep(0.2)

    def processes(self) -> list[int]:
        """Every process that names this cluster's temp folder on its command line."""
        marker = str(self.temp_dir).encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if marker in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
        return [pid for pid in found if pid != os.getpid()]

    def stop(self, grace_s: float = 10.0) -> None:
        """Stop every process of the cluster and remove its temp folder."""
        if self._pgid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._pgid, signal.SIGTERM)
            deadline = time.monotonic() + grace_s
            while time.monotonic() < deadline and _group_alive(self._pgid):
                time.sleep(0.2)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._pgid, signal.SIGKILL)
            self._pgid = None
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def _group_alive(pgid: int) -> bool:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] not in "ZX":
            return True
    return False


def _detached_pids(address: str) -> set[int]:
    """Processes of detached actors: Ray Train starts one cluster-wide singleton
    (``AutoscalingCoordinator``), detached, with the runtime env of the first job that
    needed it, so it carries that run's environment but is no process of the run."""
    from ray.util.state import list_actors

    actors = list_actors(address=address, detail=True, limit=1000, raise_on_missing_output=False)
    return {int(a.pid) for a in actors if a.is_detached and a.state != "DEAD" and a.pid}


def run_processes(run_id: str, address: str) -> list[int]:
    """The live processes on this machine that belong to ``run_id`` (the executor gives
    every process of a run ``COVENANT_RUN_ID``: the launcher and the Ray actors it
    starts)."""
    marker = f"{RUN_ID_ENV}={run_id}".encode()
    detached = _detached_pids(address)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if stat[stat.rindex(")") + 2] not in "ZX" and int(entry.name) not in detached:
            found.append(int(entry.name))
    return found


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[LocalRay]:
    """The session's Ray cluster (see the module doc)."""
    try:
        import ray  # noqa: F401
    except ImportError as exc:
        pytest.fail(f"Ray is not installed ({exc}): scripts/install.sh installs the dev extra")
    for name, value in RAY_ENV.items():
        os.environ.setdefault(name, value)
    existing = os.environ.get("COVENANT_TEST_RAY")
    if existing:
        yield LocalRay(existing, "", Path(tempfile.gettempdir()), 0.0)
        return
    try:
        cluster = LocalRay.start()
    except RuntimeError as exc:
        pytest.fail(f"{exc}\n(deselect the Ray tests with -m 'not ray')", pytrace=False)
    try:
        yield cluster
    finally:
        cluster.stop()
