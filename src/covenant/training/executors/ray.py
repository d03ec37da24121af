"""The Ray executor: each run is one Ray job, submitted through Ray's job submission API.

The job's entrypoint is the launcher (``<python> -m covenant.training.launch --spec-json
'<spec>' --executor ray``); its driver log is the run's log, progress lines included,
and the job's status says how the process ended. Everything the executor knows lives
in the cluster, never in memory: the job's *submission id* is derived from the run id
(``covenant-<run id>``), so a new executor, or a control plane restarted elsewhere,
observes and cancels runs an earlier one submitted, and Ray refuses a second job with
the same submission id atomically, which makes ``start`` idempotent across instances.

States, from the job's status and the launcher's progress lines:

* ``PENDING``/``RUNNING`` → ``RUNNING``;
* ``SUCCEEDED`` with a ``completed`` line → ``SUCCEEDED``;
* ``FAILED`` with a ``failed`` line → ``FAILED`` (the launcher said why); also when the
  entrypoint command could not start or its runtime environment could not be set up
  (a configuration error, which retrying would repeat);
* ``STOPPED`` → ``CANCELLED`` (only ``stop_job``, i.e. ``cancel``, stops a job);
* anything else that ended (the driver SIGKILLed, its node gone, the job supervisor
  dead) → ``LOST``: the run died without the launcher saying why, which is preemption.

``address`` is the Ray dashboard's HTTP address, the one ``ray job submit`` uses
(``http://127.0.0.1:8265``; ``https://`` works the same, and a bare ``host:port``
means ``http://host:port``). ``ray://`` (Ray Client) addresses are refused: job
submission does not go through Ray Client.

The launcher must be installed on the cluster at ``python`` (by default this process's
interpreter, which is right when the cluster runs on this machine or in the same
image). ``COVENANT_BLOBS`` reaches it through the job's ``runtime_env`` env_vars, so
the artifact store's URL is visible to whoever can read the cluster's job list (the
dashboard shows a job's runtime_env); the launcher removes it from its environment
before the entrypoint runs. Every process of the run (the launcher and the Ray actors
it starts, such as Ray Train's workers) also gets ``COVENANT_RUN_ID``.

Ray is imported when the executor first talks to the cluster, so this module imports
without the ``ray`` extra.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import shlex
import sys
import time
from collections.abc import Mapping
from typing import Any

from covenant.training.executors.protocol import RunObservation, RunSpec, RunState
from covenant.training.progress import Progress, parse_lines

__all__ = ["PREFIX", "RUN_ID_ENV", "RayExecutor", "submission_id_for"]

RUN_ID_ENV = "COVENANT_RUN_ID"
BLOBS_ENV = "COVENANT_BLOBS"
PREFIX = "covenant-"
_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,150}")
_TERMINAL = frozenset({"SUCCEEDED", "FAILED", "STOPPED"})
# Job error types that mean the launcher never ran because of how it was asked to run.
_CONFIG_ERRORS = frozenset({"JOB_ENTRYPOINT_COMMAND_START_ERROR", "RUNTIME_ENV_SETUP_FAILURE"})


def submission_id_for(run_id: str, prefix: str = PREFIX) -> str:
    """The Ray job submission id of ``run_id``: ``covenant-<run id>``, or, for a run id
    with characters Ray's paths and URLs do not take well, ``covenant-sha256-<hex>``."""
    if _SAFE.fullmatch(run_id):
        return prefix + run_id
    return f"{prefix}sha256-{hashlib.sha256(run_id.encode()).hexdigest()[:40]}"


def _http_address(address: str) -> str:
    if address.startswith("ray://"):
        raise ValueError(
            f"{address!r}: the Ray executor submits jobs to the dashboard's HTTP address "
            "(http://host:8265), not through Ray Client (ray://)"
        )
    if "://" not in address:
        return f"http://{address}"
    if not address.startswith(("http://", "https://")):
        raise ValueError(f"{address!r} is not an http(s) Ray dashboard address")
    return address.rstrip("/")


def _not_found(exc: Exception) -> bool:
    return "status code 404" in str(exc) or "does not exist" in str(exc)


class RayExecutor:
    """Runs each training attempt as a Ray job (see the module doc).

    Args:
        address: the Ray dashboard's job submission address.
        blobs_url: the artifact store's URL, for the launcher.
        python: the interpreter on the cluster that has Covenant installed.
        env: more environment variables for every process of every run.
        entrypoint_num_cpus: CPUs Ray reserves for the launcher process itself (0: the
            launcher mostly waits; Ray Train's workers reserve their own).
        stop_timeout_s: how long ``cancel`` waits for the job and its actors to end.
        poll_s: how often ``cancel`` looks.
        prefix: of every submission id (``covenant-``); executors with different
            prefixes on one cluster never see each other's runs.
        work_root: a folder on the cluster's nodes for the launcher's ``--run-dir``
            (``<work_root>/<run id>/``: its work folder and ``result.json``); by
            default the launcher works in the node's temporary folder.
    """

    kind = "ray"

    def __init__(
        self,
        address: str,
        blobs_url: str,
        *,
        python: str = sys.executable,
        env: Mapping[str, str] | None = None,
        entrypoint_num_cpus: float = 0.0,
        stop_timeout_s: float = 60.0,
        poll_s: float = 0.2,
        prefix: str = PREFIX,
        work_root: str | None = None,
    ) -> None:
        if not _SAFE.fullmatch(prefix + "x"):
            raise ValueError(f"prefix {prefix!r}: letters, digits, '.', '_' and '-' only")
        self.address = _http_address(address)
        self._blobs_url = blobs_url
        self._python = python
        self._env = dict(env or {})
        self._entrypoint_num_cpus = entrypoint_num_cpus
        self._stop_timeout_s = stop_timeout_s
        self._poll_s = poll_s
        self._prefix = prefix
        self._work_root = work_root
        self._client: Any = None

    def __repr__(self) -> str:
        return f"RayExecutor({self.address!r})"

    # -- the client (blocking; always called off the event loop) ------------------------

    def _jobs(self) -> Any:
        if self._client is None:
            from ray.job_submission import JobSubmissionClient

            self._client = JobSubmissionClient(self.address)
        return self._client

    def submission_id(self, run_id: str) -> str:
        """The Ray job submission id of ``run_id`` on this executor."""
        return submission_id_for(run_id, self._prefix)

    def run_dir(self, run_id: str) -> str | None:
        """The launcher's ``--run-dir`` for ``run_id``, when there is a ``work_root``."""
        if self._work_root is None:
            return None
        return f"{self._work_root.rstrip('/')}/{self.submission_id(run_id)}"

    def entrypoint(self, spec: RunSpec) -> str:
        """The shell command the Ray job runs for ``spec``: the launcher, ``exec``-ed so
        the job's driver process is the launcher itself."""
        launcher = [self._python, "-m", "covenant.training.launch", "--spec-json"]
        words = [*launcher, spec.to_json(), "--executor", "ray"]
        run_dir = self.run_dir(spec.run_id)
        if run_dir is not None:
            words += ["--run-dir", run_dir]
        command = "exec " + " ".join(shlex.quote(w) for w in words)
        if run_dir is not None:
            command = f"mkdir -p {shlex.quote(run_dir)} && {command}"
        return command

    def _submit(self, spec: RunSpec) -> None:
        env = {**self._env, BLOBS_ENV: self._blobs_url, RUN_ID_ENV: spec.run_id}
        try:
            self._jobs().submit_job(
                entrypoint=self.entrypoint(spec),
                submission_id=self.submission_id(spec.run_id),
                runtime_env={"env_vars": env},
                metadata={"covenant_run_id": spec.run_id, "covenant_job_id": spec.job_id},
                entrypoint_num_cpus=self._entrypoint_num_cpus,
            )
        except RuntimeError as exc:
            if "already exists" not in str(exc):
                raise
            # Submitted before (by this executor or another): a redelivered dispatch.
            return

    def _info(self, run_id: str) -> Any:
        try:
            return self._jobs().get_job_info(self.submission_id(run_id))
        except RuntimeError as exc:
            if _not_found(exc):
                raise KeyError(run_id) from None
            raise

    def _logs(self, run_id: str) -> str:
        submission_id = self.submission_id(run_id)
        try:
            text: str = self._jobs().get_job_logs(submission_id)
        except RuntimeError as exc:
            if _not_found(exc):
                raise KeyError(run_id) from None
            raise
        return _run_output(text, submission_id)

    def _observe(self, run_id: str) -> RunObservation:
        info = self._info(run_id)
        status = str(getattr(info.status, "value", info.status))
        text = self._logs(run_id)
        progress = parse_lines(text)
        exit_code = info.driver_exit_code
        state = _state(status, getattr(info.error_type, "value", info.error_type), progress)
        if state is RunState.RUNNING:
            exit_code = None
        return RunObservation(run_id, state, tuple(progress), exit_code=exit_code)

    def _actors_left(self, run_id: str, ray_job_id: str | None) -> int:
        """Processes of the run Ray still has: the job's supervisor and the actors the
        job started (Ray Train's controller and workers, say), not counting detached
        actors, which outlive jobs by design."""
        from ray.util.state import list_actors

        supervisor = f"_ray_internal_job_actor_{self.submission_id(run_id)}"
        alive = list_actors(
            address=self.address,
            filters=[("name", "=", supervisor), ("state", "!=", "DEAD")],
            raise_on_missing_output=False,
        )
        if ray_job_id:
            alive += [
                actor
                for actor in list_actors(
                    address=self.address,
                    filters=[("job_id", "=", ray_job_id), ("state", "!=", "DEAD")],
                    detail=True,
                    raise_on_missing_output=False,
                )
                if not actor.is_detached
            ]
        return len(alive)

    def _cancel(self, run_id: str) -> None:
        try:
            info = self._info(run_id)
        except KeyError:
            return
        if str(getattr(info.status, "value", info.status)) in _TERMINAL:
            return
        self._jobs().stop_job(self.submission_id(run_id))
        deadline = time.monotonic() + self._stop_timeout_s
        while True:
            info = self._info(run_id)
            status = str(getattr(info.status, "value", info.status))
            if status in _TERMINAL and self._actors_left(run_id, info.job_id) == 0:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"run {run_id}: Ray job {self.submission_id(run_id)} is {status} "
                    f"{self._stop_timeout_s:.0f} s after it was asked to stop"
                )
            time.sleep(self._poll_s)

    # -- the port ----------------------------------------------------------------------

    async def start(self, spec: RunSpec) -> None:
        await asyncio.to_thread(self._submit, spec)

    async def observe(self, run_id: str) -> RunObservation:
        return await asyncio.to_thread(self._observe, run_id)

    async def cancel(self, run_id: str) -> None:
        await asyncio.to_thread(self._cancel, run_id)

    async def logs(self, run_id: str) -> str:
        return await asyncio.to_thread(self._logs, run_id)

    async def aclose(self) -> None:
        self._client = None


def _run_output(text: str, submission_id: str) -> str:
    """The job's log without Ray's preamble (the runtime env being set up, then
    ``Running entrypoint for job <id>: <the command>``): what the launcher printed."""
    header = f"Running entrypoint for job {submission_id}: "
    at = 0 if text.startswith(header) else text.find("\n" + header) + 1
    if at == 0 and not text.startswith(header):
        return text
    end = text.find("\n", at)
    return "" if end < 0 else text[end + 1 :]


def _state(status: str, error_type: str | None, progress: list[Progress]) -> RunState:
    kinds = {p.kind for p in progress}
    if status not in _TERMINAL:
        return RunState.RUNNING
    if status == "STOPPED":
        return RunState.CANCELLED
    if status == "SUCCEEDED" and "completed" in kinds:
        return RunState.SUCCEEDED
    if status == "FAILED" and ("failed" in kinds or error_type in _CONFIG_ERRORS):
        return RunState.FAILED
    return RunState.LOST
