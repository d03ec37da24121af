"""Supervising the model-server processes of one model version on this machine.

Each replica is ``python -m covenant.model_server`` with ``--port 0 --warmup``; it
counts only once it has printed ``READY <url>`` (so it has passed the pre-load checks
and warmed up). A task awaits each process's exit, so a dead replica (crashed,
SIGKILLed) is noticed at once, dropped from ``endpoints()`` and replaced. A replica
that exits ``REFUSED_EXIT`` is never restarted: the model itself is refused, the same
file would be refused again, so the pool records the refusal and stops.

With ``samples_bus`` and a ``sample_rate`` above 0 (and the route and deployment
named), each replica also publishes that share of its answered rows to the drift
samples topic (``--samples-bus``; see ``covenant.dataplane.server.sampling``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from covenant.dataplane.server.loading import REFUSED_EXIT, ModelRefusedError

__all__ = ["ReplicaPool", "ServerSpec"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServerSpec:
    """What every replica of one pool serves, and how it checks it."""

    key: str
    model_id: str
    env: str
    model_path: Path
    artifact_digest: str
    manifest_path: Path | None
    trusted_keys: tuple[Path, ...]
    threads: int = 1
    samples_bus: str | None = None
    sample_rate: float = 0.0
    route: str = ""
    deploy_id: str = ""

    @property
    def samples(self) -> bool:
        """Whether the replicas publish drift samples."""
        return bool(self.samples_bus and self.sample_rate > 0 and self.route and self.deploy_id)

    def argv(self) -> list[str]:
        """The server command line of one replica."""
        args = [sys.executable, "-m", "covenant.model_server", "--model-id", self.model_id]
        args += ["--model", str(self.model_path), "--digest", self.artifact_digest]
        args += ["--env", self.env, "--port", "0", "--warmup", "--threads", str(self.threads)]
        if self.manifest_path is not None:
            args += ["--manifest", str(self.manifest_path)]
        for key in self.trusted_keys:
            args += ["--trusted-key", str(key)]
        if self.samples and self.samples_bus is not None:
            args += ["--samples-bus", self.samples_bus, "--sample-rate", str(self.sample_rate)]
            args += ["--route", self.route, "--deploy-id", self.deploy_id]
        return args


@dataclass(eq=False)
class _Replica:
    process: asyncio.subprocess.Process
    url: str | None = None
    stopping: bool = False
    watcher: asyncio.Task[None] | None = field(default=None, repr=False)


class ReplicaPool:
    """N supervised server processes of one ``ServerSpec``."""

    def __init__(
        self,
        spec: ServerSpec,
        *,
        on_change: Callable[[tuple[str, ...]], None] | None = None,
        grace_s: float = 5.0,
        start_timeout_s: float = 120.0,
    ) -> None:
        self.spec = spec
        self.on_change = on_change
        self.grace_s = grace_s
        self.start_timeout_s = start_timeout_s
        self.refusal: ModelRefusedError | None = None
        self._desired = 0
        self._replicas: list[_Replica] = []
        self._closed = False
        self._lock = asyncio.Lock()
        self._last: tuple[str, ...] = ()

    @property
    def desired(self) -> int:
        return self._desired

    @property
    def ready(self) -> int:
        return len(self.endpoints())

    def pids(self) -> tuple[int, ...]:
        """The live replicas' process ids (ready or starting)."""
        return tuple(r.process.pid for r in self._replicas if not r.stopping)

    def endpoints(self) -> tuple[str, ...]:
        """The base URLs of READY replicas, oldest first."""
        return tuple(r.url for r in self._replicas if r.url is not None and not r.stopping)

    async def scale(self, n: int) -> None:
        """Run ``n`` replicas: returns when the new ones are READY (or refused) and the
        surplus have stopped (the newest first, each after its grace period)."""
        if n < 0:
            raise ValueError(f"replica count must be >= 0, not {n}")
        self._desired = n
        async with self._lock:
            await self._converge()

    async def _converge(self) -> None:
        live = [r for r in self._replicas if not r.stopping]
        surplus = live[self._desired :]
        await asyncio.gather(*(self._stop(r) for r in reversed(surplus)))
        missing = self._desired - len(live)
        if missing > 0 and self.refusal is None and not self._closed:
            await asyncio.gather(*(self._start() for _ in range(missing)))
        self._changed()

    async def _start(self) -> None:
        process = await asyncio.create_subprocess_exec(
            *self.spec.argv(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        replica = _Replica(process)
        self._replicas.append(replica)
        try:
            replica.url = await asyncio.wait_for(_ready_url(process), self.start_timeout_s)
        except (TimeoutError, EOFError):
            replica.url = None
        if replica.url is None:
            await self._reap(replica)
            return
        replica.watcher = asyncio.create_task(self._watch(replica))

    async def _reap(self, replica: _Replica) -> None:
        """A replica that never became READY: record a refusal, or just drop it."""
        if replica.process.returncode is None:
            replica.process.kill()
        code = await replica.process.wait()
        assert replica.process.stderr is not None
        err = (await replica.process.stderr.read()).decode(errors="replace")
        refusal = _refusal(err)
        if code == REFUSED_EXIT or refusal is not None:
            # the refusal line decides, not only the exit code: when another part of the
            # process reaps a child first, asyncio reports 255 for it, and a refused
            # model read as a crash would be restarted for ever
            self.refusal = refusal or ModelRefusedError(
                "refused", err.strip()[-500:] or "no reason given"
            )
            log.warning("replica of %s refused: %s", self.spec.key, self.refusal)
        else:
            log.warning("replica of %s exited %s before ready: %s", self.spec.key, code, err[-500:])
        with contextlib.suppress(ValueError):
            self._replicas.remove(replica)

    async def _watch(self, replica: _Replica) -> None:
        # drain both pipes so a chatty replica never blocks on a full pipe buffer
        streams = (replica.process.stdout, replica.process.stderr)
        await asyncio.gather(*(_drain(s) for s in streams if s is not None))
        await replica.process.wait()
        with contextlib.suppress(ValueError):
            self._replicas.remove(replica)
        if replica.stopping or self._closed:
            return
        log.warning("replica %s of %s died; replacing", replica.process.pid, self.spec.key)
        self._changed()
        async with self._lock:
            await self._converge()

    async def _stop(self, replica: _Replica) -> None:
        replica.stopping = True
        self._changed()
        if replica.process.returncode is None:
            replica.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(replica.process.wait(), self.grace_s)
            except TimeoutError:
                replica.process.kill()
                await replica.process.wait()
        with contextlib.suppress(ValueError):
            self._replicas.remove(replica)

    def _changed(self) -> None:
        now = self.endpoints()
        if now != self._last:
            self._last = now
            if self.on_change is not None:
                self.on_change(now)

    async def close(self) -> None:
        """Stop every replica (gracefully, then by force after the grace period)."""
        self._closed = True
        self._desired = 0
        replicas = list(self._replicas)
        await asyncio.gather(*(self._stop(r) for r in replicas))
        for r in replicas:
            if r.watcher is not None:
                await asyncio.gather(r.watcher, return_exceptions=True)


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.read(65536):
        pass


async def _ready_url(process: asyncio.subprocess.Process) -> str | None:
    """The URL of the ``READY <url>`` line; None if stdout closes first."""
    assert process.stdout is not None
    while True:
        line = await process.stdout.readline()
        if not line:
            return None
        text = line.decode(errors="replace").strip()
        if text.startswith("READY "):
            return text.removeprefix("READY ").strip()


def _refusal(stderr: str) -> ModelRefusedError | None:
    for line in reversed(stderr.splitlines()):
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict) and "refused" in data:
            return ModelRefusedError(str(data["refused"]), str(data.get("reason", "")))
    return None
