"""The one shape of every local test service: start a process in its own process
group, wait until it is ready, stop the whole group.

Each launcher (Kafka, PostgreSQL, S3) used to repeat this loop with its own small
differences in what it did when the process died at start, timed out, or was
stopped twice. Here it is written once, and a launcher says only what is its
own: the command, how to tell it is ready, and what to prepare before and tidy
after. Whatever goes wrong at start, the error names the log file to read, and
nothing is left running.
"""

from __future__ import annotations

import abc
import signal
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self

from covenant.errors import CovenantError
from covenant.testing._process import stop_group

_TAIL_CHARS = 2000


class ServiceStartError(CovenantError, RuntimeError):
    """A service exited or did not become ready at start; see ``log_file``.

    The message names the file and ends with its last lines, read before the
    launcher cleaned up: a throwaway folder may be gone by the time anyone looks.

    Attributes:
        log_file: where the service's output went.
    """

    def __init__(self, message: str, *, log_file: Path) -> None:
        try:
            tail = log_file.read_text(errors="replace")[-_TAIL_CHARS:]
        except OSError:
            tail = ""
        super().__init__(f"{message}; see {log_file}" + (f"\n{tail}" if tail.strip() else ""))
        self.log_file = log_file


def in_workdir(workdir: Path | None, name: str, *, owner: str) -> Path:
    """The file ``name`` in a launcher's folder, which its ``prepare`` makes.

    Raises:
        RuntimeError: there is no folder yet (before ``start``); ``owner`` names
            the service in the message.
    """
    if workdir is None:
        raise RuntimeError(f"{owner} has no folder before start()")
    return workdir / name


class LocalService(abc.ABC):
    """A service run as a local process; usable as a context manager.

    ``start`` runs ``prepare``, starts ``command()`` in a new process group with
    its output in ``output_file``, polls ``is_ready`` until it says yes, then runs
    ``on_ready``. ``stop`` signals the whole group (children too), waits, and runs
    ``cleanup``; stopping twice, or a service that never started, is harmless.
    A service may be started again after ``stop``.

    Attributes:
        name: how errors call the service ("Kafka", "the S3 server").
        start_timeout_s: default wait for readiness.
        stop_timeout_s: how long the group gets to exit before SIGKILL.
        stop_signal: what a polite stop sends.
    """

    name: ClassVar[str] = "the service"
    start_timeout_s: ClassVar[float] = 60.0
    stop_timeout_s: ClassVar[float] = 30.0
    stop_signal: ClassVar[signal.Signals] = signal.SIGTERM
    poll_interval_s: ClassVar[float] = 0.1

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    @abc.abstractmethod
    def output_file(self) -> Path:
        """Where the process's stdout and stderr go (appended across restarts)."""

    @abc.abstractmethod
    def command(self) -> list[str]:
        """The command line that runs the service in the foreground."""

    @abc.abstractmethod
    def is_ready(self) -> bool:
        """One quick probe: does the service answer yet?"""

    def prepare(self) -> None:
        """Before the process starts: folders, config, storage."""
        return None  # a hook: nothing to do unless a launcher says so

    def on_ready(self) -> None:
        """Once it answers: what every user needs first (a bucket, a database)."""
        return None  # a hook: nothing to do unless a launcher says so

    def cleanup(self) -> None:
        """After the process is gone: remove what ``prepare`` made, if throwaway."""
        return None  # a hook: nothing to do unless a launcher says so

    def popen_options(self) -> dict[str, Any]:
        """Extra ``subprocess.Popen`` arguments (a user to run as, a folder)."""
        return {}

    @property
    def running(self) -> bool:
        """Whether the process was started and has not exited."""
        return self._proc is not None and self._proc.poll() is None

    def start(self, *, timeout_s: float | None = None) -> None:
        """Start and wait until ready; nothing happens if it is running already.

        Raises:
            ServiceStartError: it exited or was not ready within ``timeout_s``
                (after which it is stopped, and cleaned up).
        """
        if self.running:
            return
        try:
            self.prepare()
            self.output_file.parent.mkdir(parents=True, exist_ok=True)
            with self.output_file.open("ab") as out:
                self._proc = subprocess.Popen(
                    self.command(),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    **self.popen_options(),
                )
            self._wait_until_ready(
                self._proc, self.start_timeout_s if timeout_s is None else timeout_s
            )
            self.on_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_until_ready(self, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.is_ready():
            if proc.poll() is not None:
                raise ServiceStartError(
                    f"{self.name} exited at start with status {proc.returncode}",
                    log_file=self.output_file,
                )
            if time.monotonic() >= deadline:
                raise ServiceStartError(
                    f"{self.name} was not ready within {timeout_s:g} s", log_file=self.output_file
                )
            time.sleep(self.poll_interval_s)

    def stop(self, *, kill: bool = False) -> None:
        """Stop the process group (``stop_signal``, or SIGKILL with ``kill``), wait
        for it, and clean up; harmless when stopped already."""
        proc, self._proc = self._proc, None
        try:
            if proc is not None:
                stop_group(
                    proc,
                    sig=signal.SIGKILL if kill else self.stop_signal,
                    timeout_s=self.stop_timeout_s,
                )
        finally:
            self.cleanup()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
