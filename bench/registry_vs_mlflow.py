"""Side-by-side benchmark of the model registry: Covenant's HTTP gateway against
MLflow's tracking server, both started here, on one machine, in one run.

Workload, the same for both: M families x V versions (default 20 x 50 = 1,000
versions), sent in version-major order (every family's first version, then every
family's second ...) so concurrent requests rarely touch the same family, by
``--concurrency`` simulated callers: asyncio tasks in this process, each with its
own ``httpx.AsyncClient`` holding one keep-alive connection. The load generator is
the same code for both systems.

  register accepted/s  registrations / (time from the first request to the last
                       answer). MLflow answers ``model-versions/create`` once the
                       row is committed, so accepted = decided there. Covenant
                       answers ``POST /models/register`` with 202 once the command
                       is on the log: what a fire-and-forget client sees.
  register decided/s   registrations / (time from the first request until every
                       version answers ``GET /models/{id}`` with 200): for Covenant,
                       the registry worker decided and the ``model.registered``
                       event was projected into the read store. The bench polls the
                       last accepted id, then checks every id once.
  GET c=N              ``--requests`` GETs of random existing versions (the same
                       seeded sequence for both) from the N callers: requests/s and
                       per-request latency p50/p99 as the client sees it.
  GET c=1              the same, one request at a time: the fairest latency number,
                       since nothing queues in front of a request.

Untimed setup: MLflow's registered models (one ``registered-models/create`` per
family); Covenant's one artifact (``POST /artifact/upload?wait=``, which every
registration then names) and a probe registration with ``?wait=`` that must answer
201, so the registry worker has seen the artifact before the clock starts. Both
timed phases thus consist only of per-version registrations. Each GET pass starts
after an untimed warm-up.

Fairness choices:
* One machine, loopback only, one system running at a time (the other is stopped),
  so neither competes with the other's idle processes for the CPU. The 1-minute
  load average at the start of each system is printed: other tenants of a shared
  machine show up there, and a busy neighbour inflates the tail latencies of both.
* MLflow: ``mlflow server`` with the SQLite backend (``--backend-store-uri
  sqlite:///…``), ``--workers 1``, uvicorn (its default), artifact proxying off,
  access log off, its background job runner off (``MLFLOW_SERVER_ENABLE_JOB_EXECUTION=
  false``; it runs GenAI jobs, not the registry). Installed from PyPI into its own
  virtual environment, never into Covenant's.
* Covenant: embedded defaults in a fresh ``COVENANT_HOME``: the SQLite log
  (``synchronous=FULL``: every accepted command is on disk) and the SQLite read
  store. ``--covenant-layout up`` (the default) runs ``covenant up``: workers,
  projector and gateway in one process, one uvicorn worker, access log off;
  ``split`` runs the gateway as a second process (``covenant gateway``).
* Both use the same HTTP stack (uvicorn 0.54 with h11, Starlette) and get the same
  requests in the same order; status codes are checked (anything but the expected
  answer aborts the run with the server's reply).
* The client is kept out of the numbers where it can be: one client per caller
  (a shared httpcore pool stalled single requests for 100-700 ms), the client's
  garbage collector paused while a pass is timed, and a stand-in for ``sniffio``
  when it is not installed (see ``_cheap_async_library_check``). It still costs
  about 0.6 ms of CPU per request, on the same cores as the servers.

Usage: .venv/bin/python bench/registry_vs_mlflow.py [--families 20] [--versions 50]
    [--concurrency 8] [--requests 5000] [--mlflow-python PATH]
    [--covenant-layout up|split] [--keep] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import hashlib
import importlib.util
import itertools
import json
import math
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MLFLOW_PYTHON = Path(tempfile.gettempdir()) / "mlflow-bench-venv" / "bin" / "python"
# Tried in order. mlflow 3.18.0 is the requested version; when PyPI cannot install it
# (on 2026-11-23 it pins mlflow-skinny==3.18.0, which PyPI does not have), the newest
# full release that installs is used, and the version that ran is printed.
MLFLOW_SPECS = ("mlflow==3.18.0", "mlflow==3.17.2")
TARGET_ACCEPTED_RATIO = 20.0
TARGET_P99_MS = 5.0
START_TIMEOUT_S = 180.0
REQUEST_TIMEOUT_S = 30.0
INSTALL_TIMEOUT_S = 1800.0
DECIDE_TIMEOUT_S = 180.0
WARMUP_REQUESTS = 200
HEADERS = {"Content-Type": "application/json"}

Send = Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]]


def _cheap_async_library_check() -> None:
    """Spare the client a failing ``import sniffio`` per request.

    httpcore 1.0 asks ``sniffio`` which event loop runs, importing it on every call;
    without sniffio installed (anyio 4 no longer needs it) each call is a failed
    import, a search of ``sys.path`` on disk, several times per request: about a
    third of the client's CPU, the same for both systems but a cap on the faster
    one. The stand-in answers what sniffio would here: asyncio.
    """
    if importlib.util.find_spec("sniffio") is None:
        stand_in = types.ModuleType("sniffio")
        stand_in.current_async_library = lambda: "asyncio"  # type: ignore[attr-defined]
        sys.modules["sniffio"] = stand_in


class BenchError(Exception):
    """The benchmark cannot go on; the message says why (with a server's log tail)."""


# --------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


@dataclass
class Server:
    """A server process group, its log, and the URL it answers on."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    url: str = ""

    def check_alive(self) -> None:
        code = self.proc.poll()
        if code is not None:
            raise BenchError(
                f"{self.name} exited with status {code}; last lines of {self.log}:\n"
                f"{tail(self.log)}"
            )

    def stop(self, timeout_s: float = 20.0) -> None:
        """SIGTERM the whole process group, then SIGKILL what is left."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=timeout_s)
        # Children (uvicorn, job runners) may outlive the leader: kill the group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)


def spawn(
    name: str, argv: Sequence[str], *, env: dict[str, str], log: Path, url: str = ""
) -> Server:
    """Start ``argv`` in its own process group (so stopping it stops its children)."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    return Server(name, proc, log, url)


async def wait_http(url: str, servers: Sequence[Server], timeout_s: float) -> None:
    """Wait until ``url`` answers 200, failing early when a server exits."""
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=2.0, trust_env=False) as client:
        while True:
            for server in servers:
                server.check_alive()
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url)).status_code == 200:
                    return
            if time.monotonic() > deadline:
                logs = "\n".join(f"--- {s.name} ({s.log}):\n{tail(s.log)}" for s in servers)
                raise BenchError(f"{url} did not answer 200 within {timeout_s:.0f}s\n{logs}")
            await asyncio.sleep(0.2)


@contextlib.contextmanager
def running(servers: list[Server]) -> Iterator[list[Server]]:
    """Stop every server in ``servers`` on the way out, whatever happened."""
    try:
        yield servers
    finally:
        for server in reversed(servers):
            server.stop()


def base_env() -> dict[str, str]:
    """The environment for servers: no proxies (loopback only), unbuffered output."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["PYTHONUNBUFFERED"] = "1"
    return env


# ------------------------------------------------------------------------ MLflow


def ensure_mlflow(python: Path) -> str:
    """Make sure ``python`` can run MLflow's server; create its venv if missing.

    Returns:
        The MLflow version installed there.
    """

    def version() -> str | None:
        if not python.exists():
            return None
        probe = subprocess.run(
            [str(python), "-c", "import mlflow.server, mlflow; print(mlflow.__version__)"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        return probe.stdout.strip() if probe.returncode == 0 else None

    found = version()
    if found:
        return found
    venv = python.parent.parent
    if not python.exists():
        print(f"creating {venv} for MLflow …", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    failures = []
    for spec in MLFLOW_SPECS:
        print(f"installing {spec} from PyPI into {venv} …", file=sys.stderr, flush=True)
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", spec],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
            check=False,
        )
        if done.returncode == 0 and (found := version()):
            return found
        failures.append(f"{spec}: {(done.stderr or done.stdout).strip()[-600:]}")
    raise BenchError("cannot install MLflow:\n" + "\n".join(failures))


def start_mlflow(python: Path, work: Path) -> Server:
    port = free_port()
    env = base_env()
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    (work / "mlartifacts").mkdir()
    return spawn(
        "mlflow server",
        [
            str(python),
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{work / 'mlflow.db'}",
            "--default-artifact-root",
            (work / "mlartifacts").as_uri(),
            "--no-serve-artifacts",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--uvicorn-opts",
            "--no-access-log",
        ],
        env=env,
        log=work / "mlflow.log",
        url=f"http://127.0.0.1:{port}",
    )


# ---------------------------------------------------------------------- workload


@dataclass(frozen=True)
class Workload:
    families: int
    versions: int
    concurrency: int
    requests: int
    seed: int = 7

    def family(self, f: int) -> str:
        return f"bench-fam-{f:03d}"

    def order(self) -> list[tuple[int, int]]:
        """(family, version) pairs, version-major; versions count from 1."""
        return [(f, v) for v in range(1, self.versions + 1) for f in range(self.families)]

    def lookups(self, n: int, salt: int) -> list[tuple[int, int]]:
        rng = random.Random(self.seed * 1_000_003 + salt)
        return [
            (rng.randrange(self.families), rng.randrange(1, self.versions + 1)) for _ in range(n)
        ]

    @property
    def total(self) -> int:
        return self.families * self.versions


@dataclass
class Pass:
    """What one pool of requests measured."""

    count: int
    started: float
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def per_s(self) -> float:
        return self.count / self.seconds

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile of the latencies."""
        ordered = sorted(self.latencies_ms)
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]

    def summary(self) -> dict[str, float]:
        return {
            "requests": self.count,
            "seconds": round(self.seconds, 4),
            "per_s": round(self.per_s, 1),
            "p50_ms": round(self.percentile(50), 3),
            "p99_ms": round(self.percentile(99), 3),
            "max_ms": round(max(self.latencies_ms), 3),
        }


def new_client(base_url: str) -> httpx.AsyncClient:
    """One client with one keep-alive connection (one simulated caller)."""
    return httpx.AsyncClient(
        base_url=base_url,
        limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        timeout=REQUEST_TIMEOUT_S,
        trust_env=False,  # never a proxy: loopback only
    )


@contextlib.asynccontextmanager
async def client_pool(base_url: str, size: int) -> AsyncIterator[list[httpx.AsyncClient]]:
    """``size`` clients, closed on the way out.

    One client per caller rather than one client shared by all: httpcore's shared
    connection pool hands connections to waiting requests unevenly, which showed as
    100-700 ms stalls of single requests (1 % of them) at concurrency 8 here, an
    artefact of the client that would land on whichever server was faster.
    """
    async with contextlib.AsyncExitStack() as stack:
        yield [await stack.enter_async_context(new_client(base_url)) for _ in range(size)]


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the client's garbage collector while a pass is timed: a full collection
    of the client (10-30 ms here) would otherwise be counted as server latency."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def pool(
    clients: Sequence[httpx.AsyncClient],
    send: Send,
    count: int,
    expect: int,
    on_answer: Callable[[int, httpx.Response], None] | None = None,
) -> Pass:
    """Send requests ``0..count-1``, one task per client; time each request."""
    latencies = [0.0] * count
    indices = iter(range(count))

    async def client_task(client: httpx.AsyncClient) -> None:
        for i in indices:  # shared iterator: each index is taken once
            start = time.perf_counter()
            response = await send(client, i)
            latencies[i] = (time.perf_counter() - start) * 1000
            if response.status_code != expect:
                raise BenchError(
                    f"{response.request.method} {response.request.url} answered "
                    f"{response.status_code} (expected {expect}): {response.text[:500]}"
                )
            if on_answer is not None:
                on_answer(i, response)

    with gc_paused():
        start = time.perf_counter()
        tasks = [asyncio.create_task(client_task(client)) for client in clients]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        elapsed = time.perf_counter() - start
    return Pass(count, start, elapsed, latencies)


async def get_pass(clients: Sequence[httpx.AsyncClient], paths: Sequence[str]) -> Pass:
    return await pool(clients, lambda c, i: c.get(paths[i]), len(paths), 200)


async def get_passes(
    clients: Sequence[httpx.AsyncClient], work: Workload, path: Callable[[int, int], str]
) -> dict[str, dict[str, float]]:
    """The loaded (c=concurrency) and sequential (c=1) GET passes, each after a warm-up."""
    results = {}
    for label, concurrency, salt in (("loaded", work.concurrency, 1), ("sequential", 1, 2)):
        callers = clients[:concurrency]
        await get_pass(callers, [path(f, v) for f, v in work.lookups(WARMUP_REQUESTS, salt + 99)])
        measured = await get_pass(
            callers, [path(f, v) for f, v in work.lookups(work.requests, salt)]
        )
        results[label] = measured.summary()
        progress(f"  GET c={concurrency}: {results[label]}")
    return results


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# ----------------------------------------------------------------- MLflow bench


async def bench_mlflow(python: Path, version: str, work: Workload, folder: Path) -> dict[str, Any]:
    load = round(os.getloadavg()[0], 2)
    progress(f"MLflow {version}: starting the server …")
    server = start_mlflow(python, folder)
    url = server.url
    with running([server]):
        await wait_http(f"{url}/health", [server], START_TIMEOUT_S)
        api = "/api/2.0/mlflow"
        async with client_pool(url, work.concurrency) as clients:
            client = clients[0]
            families = [work.family(f) for f in range(work.families)]
            await pool(
                clients,
                lambda c, i: c.post(f"{api}/registered-models/create", json={"name": families[i]}),
                len(families),
                200,
            )
            order = work.order()
            registered = await pool(
                clients,
                lambda c, i: c.post(
                    f"{api}/model-versions/create",
                    json={
                        "name": families[order[i][0]],
                        "source": f"s3://bench-artifacts/{families[order[i][0]]}/{order[i][1]}",
                    },
                ),
                len(order),
                200,
            )
            progress(f"  register: {registered.per_s:,.1f}/s")
            # Versions are numbered by MLflow per family, 1..V: check they all exist.
            check = await client.get(
                f"{api}/registered-models/get-latest-versions",
                params={"name": families[-1]},
            )
            latest = int(check.json()["model_versions"][0]["version"])
            if latest != work.versions:
                raise BenchError(f"MLflow numbered {latest} versions, expected {work.versions}")
            gets = await get_passes(
                clients,
                work,
                lambda f, v: f"{api}/model-versions/get?name={families[f]}&version={v}",
            )
        server.check_alive()
    return {
        "system": "mlflow",
        "loadavg_1m": load,
        "version": version,
        "register": {
            "accepted_per_s": round(registered.per_s, 1),
            "decided_per_s": round(registered.per_s, 1),
            "seconds": round(registered.seconds, 4),
            "p50_ms": round(registered.percentile(50), 3),
            "p99_ms": round(registered.percentile(99), 3),
        },
        "get": gets,
    }


# --------------------------------------------------------------- Covenant bench


def covenant_env(home: Path) -> dict[str, str]:
    env = base_env()
    for key in [k for k in env if k.startswith("COVENANT_")]:
        del env[key]
    env["COVENANT_HOME"] = str(home)
    return env


def start_covenant(folder: Path, layout: str) -> list[Server]:
    """The platform on embedded defaults; the gateway is the last server.

    ``up``: ``covenant up``, which runs the workers, the projector and the gateway
    in one process (the default deployment). ``split``: ``covenant up
    --no-gateway`` and ``covenant gateway`` as two processes.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = covenant_env(folder / "covenant-home")
    env["COVENANT_GATEWAY"] = url
    cli = [sys.executable, "-m", "covenant"]
    if layout == "up":
        return [spawn("covenant up", [*cli, "-v", "up"], env=env, log=folder / "up.log", url=url)]
    return [
        spawn("covenant up", [*cli, "-v", "up", "--no-gateway"], env=env, log=folder / "up.log"),
        spawn(
            "covenant gateway",
            [*cli, "gateway", "--host", "127.0.0.1", "--port", str(port), "--no-access-log"],
            env=env,
            log=folder / "gateway.log",
            url=url,
        ),
    ]


async def wait_logged(server: Server, lines: Sequence[str], timeout_s: float) -> None:
    """Wait until ``server`` logged every one of ``lines`` (its parts started)."""
    deadline = time.monotonic() + timeout_s
    while not all(line in server.log.read_text(errors="replace") for line in lines):
        server.check_alive()
        if time.monotonic() > deadline:
            raise BenchError(
                f"{server.name} did not log {list(lines)} within {timeout_s:.0f}s; "
                f"last lines of {server.log}:\n{tail(server.log)}"
            )
        await asyncio.sleep(0.1)


def model_id(family: str, version: int) -> str:
    return f"{family}:{version}.0.0"


async def upload_artifact(client: httpx.AsyncClient) -> str:
    data = b"covenant registry benchmark model weights\n" * 1024
    response = await client.post(
        "/artifact/upload",
        params={"wait": "30", "name": "bench/model.bin"},
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    if response.status_code != 201:
        raise BenchError(f"artifact upload answered {response.status_code}: {response.text}")
    artifact_id = str(response.json()["artifactId"])
    expected = "sha256:" + hashlib.sha256(data).hexdigest()
    if artifact_id != expected:
        raise BenchError(f"artifact upload stored {artifact_id}, expected {expected}")
    return artifact_id


async def wait_registry_knows(
    client: httpx.AsyncClient, artifact_id: str, timeout_s: float
) -> None:
    """Register probe versions with ``?wait`` until one is registered (201).

    ``artifact.stored`` (what the upload waited for) and ``model.register`` reach the
    registry worker on different topics, in no guaranteed order, so a registration
    sent right after the upload may be rejected as naming an unknown artifact. The
    probe makes sure the registry has folded the artifact in before the clock starts.
    """
    deadline = time.monotonic() + timeout_s
    for attempt in itertools.count():
        response = await client.post(
            "/models/register",
            params={"wait": "10"},
            json={
                "family": "bench-probe",
                "version": f"0.0.{attempt}",
                "codeRef": "git@example.com:probe.git#0",
                "artifactId": artifact_id,
            },
        )
        if response.status_code == 201:
            return
        if time.monotonic() > deadline:
            raise BenchError(
                f"the registry did not accept the uploaded artifact within {timeout_s:.0f}s; "
                f"last answer {response.status_code}: {response.text[:500]}"
            )
        await asyncio.sleep(0.2)


async def wait_decided(
    client: httpx.AsyncClient,
    ids: Sequence[str],
    commands: dict[str, str],
    timeout_s: float,
) -> float:
    """Wait until every id answers 200; returns the perf_counter time it was so.

    Polls the last accepted id (the log keeps each partition in order, but ids are
    spread over partitions), then checks every id once, waiting on any missing.
    """
    deadline = time.monotonic() + timeout_s
    pending = list(ids)
    while pending:
        probe = pending[-1]
        while (await client.get(f"/models/{probe}")).status_code != 200:
            if time.monotonic() > deadline:
                status = await client.get(f"/commands/{commands.get(probe, '-')}")
                raise BenchError(
                    f"{len(pending)} registrations not decided within {timeout_s:.0f}s; "
                    f"e.g. {probe}, whose command says {status.status_code}: {status.text[:800]}"
                )
            await asyncio.sleep(0.005)
        done_at = time.perf_counter()
        found = await asyncio.gather(*(client.get(f"/models/{i}") for i in pending[:-1]))
        pending = [i for i, r in zip(pending[:-1], found, strict=True) if r.status_code != 200]
    return done_at


async def bench_covenant(work: Workload, folder: Path, layout: str) -> dict[str, Any]:
    from covenant import __version__

    load = round(os.getloadavg()[0], 2)
    progress(f"Covenant {__version__}: starting the platform and the gateway …")
    servers = start_covenant(folder, layout)
    url = servers[-1].url
    with running(servers):
        await wait_logged(
            servers[0], ["worker registry started", "projection started"], START_TIMEOUT_S
        )
        await wait_http(f"{url}/healthz", servers, START_TIMEOUT_S)
        async with client_pool(url, work.concurrency) as clients:
            client = clients[0]
            artifact_id = await upload_artifact(client)
            await wait_registry_knows(client, artifact_id, 60.0)
            families = [work.family(f) for f in range(work.families)]
            order = work.order()
            ids = [model_id(families[f], v) for f, v in order]
            accepted_order: list[str] = []
            answers: dict[str, bytes] = {}

            def accepted_one(i: int, response: httpx.Response) -> None:
                accepted_order.append(ids[i])
                answers[ids[i]] = response.content

            def body(i: int) -> dict[str, Any]:
                f, v = order[i]
                return {
                    "family": families[f],
                    "version": f"{v}.0.0",
                    "codeRef": f"git@example.com:{families[f]}.git#{v:040x}",
                    "artifactId": artifact_id,
                }

            accepted = await pool(
                clients,
                lambda c, i: c.post("/models/register", json=body(i)),
                len(order),
                202,
                on_answer=accepted_one,
            )
            progress(f"  register accepted: {accepted.per_s:,.1f}/s")
            commands = {i: str(json.loads(a)["commandId"]) for i, a in answers.items()}
            done_at = await wait_decided(client, accepted_order, commands, DECIDE_TIMEOUT_S)
            decided_s = done_at - accepted.started
            progress(f"  register decided: {len(ids) / decided_s:,.1f}/s")
            gets = await get_passes(
                clients, work, lambda f, v: f"/models/{model_id(families[f], v)}"
            )
        for server in servers:
            server.check_alive()
    return {
        "system": "covenant",
        "version": __version__,
        "layout": layout,
        "loadavg_1m": load,
        "register": {
            "accepted_per_s": round(accepted.per_s, 1),
            "decided_per_s": round(len(ids) / decided_s, 1),
            "seconds": round(accepted.seconds, 4),
            "decided_seconds": round(decided_s, 4),
            "p50_ms": round(accepted.percentile(50), 3),
            "p99_ms": round(accepted.percentile(99), 3),
        },
        "get": gets,
    }


# ------------------------------------------------------------------------ report


def machine() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def ratio(a: float, b: float) -> str:
    return f"{a / b:,.1f}x" if b else "-"


def render(results: dict[str, Any]) -> str:
    m, c = results["mlflow"], results["covenant"]
    w = results["workload"]
    mr, cr = m["register"], c["register"]
    rows: list[tuple[str, float, float, bool]] = [
        ("register accepted/s", mr["accepted_per_s"], cr["accepted_per_s"], True),
        ("register decided/s", mr["decided_per_s"], cr["decided_per_s"], True),
    ]
    for label, key in (("loaded", f"c={w['concurrency']}"), ("sequential", "c=1")):
        mg, cg = m["get"][label], c["get"][label]
        rows += [
            (f"GET {key} requests/s", mg["per_s"], cg["per_s"], True),
            (f"GET {key} p50 ms", mg["p50_ms"], cg["p50_ms"], False),
            (f"GET {key} p99 ms", mg["p99_ms"], cg["p99_ms"], False),
        ]
    hw = results["machine"]
    lines = [
        f"Model registry: {w['families']} families x {w['versions']} versions = "
        f"{w['families'] * w['versions']:,} registrations, concurrency {w['concurrency']}, "
        f"{w['requests']:,} GETs per pass",
        f"machine: {hw['cpu']}, {hw['cores']} cores ({hw['usable_cores']} usable), "
        f"Python {hw['python']}, Linux {hw['kernel']}",
        f"MLflow {m['version']} (uvicorn, 1 worker, SQLite) vs Covenant {c['version']} "
        f"(embedded log, SQLite read store, layout '{c['layout']}')",
        f"load average (1 min) at the start of each: MLflow {m['loadavg_1m']:.2f}, "
        f"Covenant {c['loadavg_1m']:.2f} (other tenants of the machine show up here)",
        "",
        f"{'':<24}{'MLflow':>12}{'Covenant':>12}{'Covenant/MLflow':>18}",
    ]
    for label, mv, cv, higher_better in rows:
        fmt = "{:>12,.1f}" if higher_better else "{:>12.2f}"
        better = ratio(cv, mv) if higher_better else ratio(mv, cv) + " faster"
        lines.append(f"{label:<24}{fmt.format(mv)}{fmt.format(cv)}{better:>18}")
    accepted = c["register"]["accepted_per_s"] / m["register"]["accepted_per_s"]
    p99 = c["get"]["loaded"]["p99_ms"]
    lines += [
        "",
        f"target accepted/s ≥ {TARGET_ACCEPTED_RATIO:.0f}x MLflow: {accepted:,.1f}x — "
        + ("met" if accepted >= TARGET_ACCEPTED_RATIO else "MISSED"),
        f"target GET p99 < {TARGET_P99_MS:.0f} ms under load: {p99:.2f} ms — "
        + ("met" if p99 < TARGET_P99_MS else "MISSED"),
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--families", type=int, default=20)
    parser.add_argument("--versions", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--requests", type=int, default=5000, help="GETs per pass")
    parser.add_argument(
        "--mlflow-python",
        type=Path,
        default=DEFAULT_MLFLOW_PYTHON,
        help="python of MLflow's own venv; created (and MLflow installed) if missing",
    )
    parser.add_argument(
        "--covenant-layout",
        choices=("up", "split"),
        default="up",
        help="up: gateway inside 'covenant up' (default); split: the gateway as its own process",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder and logs")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    for name in ("families", "versions", "concurrency", "requests"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    return args


async def run(args: argparse.Namespace, mlflow_version: str, folder: Path) -> dict[str, Any]:
    # SIGTERM cancels the run like Ctrl-C does, so every server is stopped on the way out.
    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    work = Workload(args.families, args.versions, args.concurrency, args.requests)
    (folder / "mlflow").mkdir()
    (folder / "covenant").mkdir()
    mlflow = await bench_mlflow(args.mlflow_python, mlflow_version, work, folder / "mlflow")
    covenant = await bench_covenant(work, folder / "covenant", args.covenant_layout)
    return {
        "machine": machine(),
        "workload": {
            "families": work.families,
            "versions": work.versions,
            "concurrency": work.concurrency,
            "requests": work.requests,
        },
        "mlflow": mlflow,
        "covenant": covenant,
        "ratios": {
            "accepted": round(
                covenant["register"]["accepted_per_s"] / mlflow["register"]["accepted_per_s"], 2
            ),
            "decided": round(
                covenant["register"]["decided_per_s"] / mlflow["register"]["decided_per_s"], 2
            ),
        },
    }


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C (a running pip install is killed too)."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    _cheap_async_library_check()
    signal.signal(signal.SIGTERM, _interrupt)
    folder = Path(tempfile.mkdtemp(prefix="covenant-registry-bench-"))
    try:
        mlflow_version = ensure_mlflow(args.mlflow_python)
        results = asyncio.run(run(args, mlflow_version, folder))
    except BenchError as exc:
        print(f"error: {exc}\nlogs kept in {folder}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, asyncio.CancelledError):
        print(f"interrupted; servers stopped; logs kept in {folder}", file=sys.stderr)
        return 130
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(results, indent=2) if args.json else render(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
