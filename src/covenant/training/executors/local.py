"""The local executor: each run is a launcher subprocess and a folder on this disk.

Everything the executor knows lives in the run's folder (memory only caches what it
parsed of a log), so a new executor over the same root (after the control plane was
killed and restarted) observes and cancels runs an earlier one started::

    <root>/<run_id>/
        spawn.lock      held (flock) while the run is being spawned
        alive.lock      held (flock) by the launcher while it lives: "running", even
                        if its starter died before writing process.json
        process.json    {"pid", "start_time"}: the launcher, and its start time in
                        /proc, so a reused pid is never taken for the run
        log             the launcher's stdout and stderr (progress lines included)
        result.json     written by the launcher as it exits (its exit status)
        cancelled       written by ``cancel`` before it signals the run
        work-*/         the launcher's ephemeral work folder, removed at the end

The folder appears atomically, lock already held (made under a temporary name and
renamed into place), so of concurrent ``start`` calls exactly one spawns. The launcher
runs in a session of its own, output in a file, so it outlives its starter.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from covenant.training.executors._files import (
    ALIVE_LOCK,
    cpu_seconds_of,
    lock_held,
    read_json,
    start_time_of,
    write_json,
)
from covenant.training.executors.protocol import RunObservation, RunSpec, RunState
from covenant.training.progress import Progress, parse_lines

__all__ = ["LocalExecutor"]

_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+-]{0,199}")
_POLL_S = 0.05


class LocalExecutor:
    """Runs each attempt as ``python -m covenant.training.launch`` on this machine.

    Args:
        root: the folder holding one folder per run (created when missing).
        blobs_url: the artifact store the launcher reads datasets from and writes
            outputs to; passed in its environment, never on its command line.
        env: the launcher's environment (default: this process's).
        grace_s: how long ``cancel`` waits after SIGTERM before SIGKILL.
    """

    kind = "local"

    def __init__(
        self,
        root: Path,
        blobs_url: str,
        *,
        env: Mapping[str, str] | None = None,
        grace_s: float = 5.0,
    ) -> None:
        self.root = Path(root).absolute()
        self._blobs_url = blobs_url
        self._env = dict(os.environ if env is None else env)
        self._grace_s = grace_s
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._parsed: dict[str, tuple[int, tuple[Progress, ...]]] = {}
        self._parse_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LocalExecutor({str(self.root)!r})"

    def run_dir(self, run_id: str) -> Path:
        """The run's folder (whether or not it exists).

        Raises:
            ValueError: for a run id that cannot be a folder name.
        """
        if _RUN_ID.fullmatch(run_id) is None:
            raise ValueError(f"run id {run_id!r} cannot name a run folder")
        return self.root / run_id

    # -- start ----------------------------------------------------------------------

    async def start(self, spec: RunSpec) -> None:
        """Spawn the launcher for ``spec`` unless its run folder exists already."""
        if spec.workers != 1:
            raise ValueError(f"the local executor runs 1 worker, the spec asks for {spec.workers}")
        await asyncio.to_thread(self._start, spec)

    def _start(self, spec: RunSpec) -> None:
        run_dir = self.run_dir(spec.run_id)
        if run_dir.exists():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{spec.run_id}.", dir=self.root))
        lock = os.open(staging / "spawn.lock", os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                os.rename(staging, run_dir)
            except OSError as exc:
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
                shutil.rmtree(staging, ignore_errors=True)
                return  # another start won: the run exists
            self._spawn(spec, run_dir)
        finally:
            os.close(lock)

    def _spawn(self, spec: RunSpec, run_dir: Path) -> None:
        command = [
            sys.executable,
            "-m",
            "covenant.training.launch",
            "--spec-json",
            spec.to_json(),
            "--run-dir",
            str(run_dir),
            "--executor",
            self.kind,
        ]
        env = self._env | {"COVENANT_BLOBS": self._blobs_url, "PYTHONUNBUFFERED": "1"}
        log = os.open(run_dir / "log", os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        # The launcher inherits this locked file: the lock lives exactly as long as
        # the launcher, whoever started it and whether or not process.json got
        # written, so a starter killed mid-spawn never makes a live run look lost.
        alive = os.open(run_dir / ALIVE_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(alive, fcntl.LOCK_EX | fcntl.LOCK_NB)
            child = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=run_dir,
                env=env,
                start_new_session=True,
                pass_fds=(alive,),
            )
        finally:
            os.close(log)
            os.close(alive)
        self._children[spec.run_id] = child
        found = start_time_of(child.pid)  # a zombie until reaped, so still readable
        start_time = found[1] if found is not None else None
        write_json(run_dir / "process.json", {"pid": child.pid, "start_time": start_time})

    # -- observe --------------------------------------------------------------------

    def _process(self, run_id: str, run_dir: Path) -> dict[str, Any] | None:
        """The run's process.json; waits out a spawn in progress. None when the
        spawn never finished (the starter died between folder and process)."""
        info = read_json(run_dir / "process.json")
        if info is not None:
            return info
        with contextlib.suppress(FileNotFoundError):
            lock = os.open(run_dir / "spawn.lock", os.O_RDONLY | os.O_CLOEXEC)
            try:
                fcntl.flock(lock, fcntl.LOCK_SH)  # returns once the spawn is done
            finally:
                os.close(lock)
        return read_json(run_dir / "process.json")

    def _alive(self, run_id: str, info: Mapping[str, Any]) -> bool:
        child = self._children.get(run_id)
        if child is not None and child.poll() is not None:
            return False  # reaped just now (or before): gone
        found = start_time_of(int(info["pid"]))
        if found is None:
            return False
        state, start_time = found
        if info.get("start_time") is not None and start_time != info["start_time"]:
            return False  # the pid belongs to another process now
        return state not in ("Z", "X")

    def _observe(self, run_id: str) -> RunObservation:
        run_dir = self.run_dir(run_id)
        if not run_dir.is_dir():
            raise KeyError(run_id)
        info = self._process(run_id, run_dir)
        by_pid = info is not None and self._alive(run_id, info)  # also reaps our children
        held = lock_held(run_dir / ALIVE_LOCK)
        alive = held if held is not None else by_pid
        # Read only after the liveness check: a launcher that exits in between has
        # written its result and its last lines already.
        result = read_json(run_dir / "result.json")
        progress = self._progress(run_id, run_dir)
        exit_code = result.get("exit_code") if result else None
        child = self._children.get(run_id)
        if exit_code is None and child is not None:
            exit_code = child.returncode
        cpu = result.get("cpu_seconds") if result else None
        if alive:
            cpu_now = cpu_seconds_of(int(info["pid"])) if info is not None else None
            return RunObservation(run_id, RunState.RUNNING, progress, cpu_seconds=cpu_now)
        if result is not None and exit_code == 0 and any(p.kind == "completed" for p in progress):
            state = RunState.SUCCEEDED
        elif (run_dir / "cancelled").exists():
            state = RunState.CANCELLED
        elif result is not None:
            state = RunState.FAILED
        else:
            state = RunState.LOST
        gpu = result.get("gpu_seconds") if result else None
        return RunObservation(
            run_id, state, progress, exit_code=exit_code, cpu_seconds=cpu, gpu_seconds=gpu
        )

    def _progress(self, run_id: str, run_dir: Path) -> tuple[Progress, ...]:
        """Every progress line so far, parsing only what was appended since the
        last look (a chatty run's log is read once, not once per observation)."""
        with self._parse_lock:
            offset, found = self._parsed.get(run_id, (0, ()))
            try:
                with (run_dir / "log").open("rb") as log:
                    log.seek(offset)
                    fresh = log.read()
            except FileNotFoundError:
                return found
            complete = fresh[: fresh.rfind(b"\n") + 1]  # a last line still being written waits
            if complete:
                found = found + tuple(parse_lines(complete.decode("utf-8", errors="replace")))
                self._parsed[run_id] = (offset + len(complete), found)
            return found

    @staticmethod
    def _read_log(run_dir: Path) -> str:
        try:
            return (run_dir / "log").read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    async def observe(self, run_id: str) -> RunObservation:
        """The run's state, read from its folder and its process."""
        return await asyncio.to_thread(self._observe, run_id)

    async def logs(self, run_id: str) -> str:
        """The run's log file."""

        def read() -> str:
            run_dir = self.run_dir(run_id)
            if not run_dir.is_dir():
                raise KeyError(run_id)
            return self._read_log(run_dir)

        return await asyncio.to_thread(read)

    # -- cancel ---------------------------------------------------------------------

    def _signal(self, info: Mapping[str, Any], signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(int(info["pid"]), signum)

    def _wait_gone(self, run_id: str, info: Mapping[str, Any], timeout_s: float | None) -> bool:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while self._alive(run_id, info):
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(_POLL_S)
        return True

    def _cancel(self, run_id: str) -> None:
        try:
            run_dir = self.run_dir(run_id)
        except ValueError:
            return
        if not run_dir.is_dir():
            return
        info = self._process(run_id, run_dir)
        if info is None or not self._alive(run_id, info):
            return  # finished, or never spawned: nothing to stop
        (run_dir / "cancelled").touch()
        self._signal(info, signal.SIGTERM)
        if not self._wait_gone(run_id, info, self._grace_s):
            self._signal(info, signal.SIGKILL)
            self._wait_gone(run_id, info, None)
        self._signal(info, signal.SIGKILL)  # anything the run left behind in its group

    async def cancel(self, run_id: str) -> None:
        """SIGTERM the run's process group, SIGKILL it after the grace period;
        returns once the launcher is gone."""
        await asyncio.to_thread(self._cancel, run_id)

    async def aclose(self) -> None:
        """Forget the children (their runs go on); nothing to release."""
        self._children.clear()
