"""The executor port: start, observe, cancel one training run, wherever it runs.

A run is one attempt of one job (``run_id`` = ``<job_id>.a<attempt>``). Every
executor starts the same launcher (``python -m covenant.training.launch``), which
checks the code out at its commit, fetches and verifies the datasets, calls the
entrypoint with a ``covenant.training.TrainingContext`` and uploads what it wrote.
The launcher tells the control plane what happens through *progress lines* on its
standard output (``covenant.training.progress``), so an executor only has to start
a process somewhere and read its output back: a local subprocess's log file, a Ray
job's logs.

Side effects outside the log are idempotent, keyed by the run id: ``start`` for a
run that already exists (running or finished) starts nothing, so a redelivered
dispatch never runs a job twice; ``cancel`` of a finished or unknown run is a no-op.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Protocol

__all__ = [
    "DatasetInput",
    "Executor",
    "RunObservation",
    "RunSpec",
    "RunState",
    "run_id_for",
]


def run_id_for(job_id: str, attempt: int) -> str:
    """The run id of ``attempt`` (1-based) of ``job_id``: the idempotency key of
    every side effect of that attempt."""
    return f"{job_id}.a{attempt}"


@dataclass(frozen=True)
class DatasetInput:
    """One dataset a run reads.

    Attributes:
        name: the dataset id; also the file name under the run's data folder.
        artifact_id: where its bytes are stored, ``sha256:<hex>``.
        checksum: what the registry recorded (``sha256:<hex>``); the launcher
            refuses to start the entrypoint when the fetched bytes differ.
    """

    name: str
    artifact_id: str
    checksum: str


@dataclass(frozen=True)
class RunSpec:
    """Everything one attempt needs; the executor never reads anything else.

    Attributes:
        job_id: the job the run belongs to.
        attempt: 1 for the first run, +1 for each resume.
        code_repo: a git URL or local path.
        code_commit: a full 40-hex commit id (never a branch name).
        entrypoint: ``module:function`` inside the checked-out code.
        datasets: what the run reads.
        hyperparams: JSON scalars, passed to the entrypoint as they are.
        seed: the seed the entrypoint must use.
        resume_from: the artifact id of the checkpoint to resume from, if any.
        workers: data-parallel workers (Ray Train); 1 on the local executor.
        cpus: CPUs per worker.
        gpus: GPUs per worker.
    """

    job_id: str
    attempt: int
    code_repo: str
    code_commit: str
    entrypoint: str
    datasets: tuple[DatasetInput, ...] = ()
    hyperparams: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0
    resume_from: str | None = None
    workers: int = 1
    cpus: float = 1.0
    gpus: float = 0.0

    @property
    def run_id(self) -> str:
        return run_id_for(self.job_id, self.attempt)

    def to_json(self) -> str:
        """Canonical JSON (sorted keys): the launcher's only argument."""
        body = asdict(self)
        body["hyperparams"] = dict(self.hyperparams)
        return json.dumps(body, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> RunSpec:
        """Parse ``to_json``'s output.

        Raises:
            ValueError: naming the field, for anything that is not a run spec.
        """
        try:
            body = json.loads(text)
            datasets = tuple(DatasetInput(**d) for d in body.pop("datasets", ()))
            return cls(datasets=datasets, **body)
        except (TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a run spec: {exc}") from exc


class RunState(StrEnum):
    """Where a run is, as its executor sees it."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"  # the launcher printed ``completed`` and exited 0
    FAILED = "failed"  # the entrypoint raised, or the launcher refused (bad data, bad commit)
    LOST = "lost"  # died without saying why: SIGKILL, node failure, spot reclaim
    CANCELLED = "cancelled"  # stopped by ``cancel``


@dataclass(frozen=True)
class RunObservation:
    """What an executor knows of one run right now.

    Attributes:
        run_id: the run.
        state: see ``RunState``.
        progress: every progress line the launcher printed so far, parsed, in
            order (``covenant.training.progress.Progress``); observing twice
            returns the earlier lines again, the control plane dedups.
        exit_code: the launcher's, once it ended (negative: killed by a signal).
        cpu_seconds: CPU time the run's processes used, when the executor knows.
        gpu_seconds: busy GPU-seconds NVML measured, when the hardware tells.
    """

    run_id: str
    state: RunState
    progress: tuple[Any, ...] = ()
    exit_code: int | None = None
    cpu_seconds: float | None = None
    gpu_seconds: float | None = None


class Executor(Protocol):
    """Runs training attempts somewhere; one conformance suite for every adapter
    (``tests/conformance/test_executor.py``)."""

    kind: str
    """``local`` or ``ray``; recorded in the run record."""

    async def start(self, spec: RunSpec) -> None:
        """Start the run, idempotently: nothing happens when ``spec.run_id``
        already exists, running or finished. Returns once it is started, not
        when it ends."""
        ...

    async def observe(self, run_id: str) -> RunObservation:
        """The run's state and progress lines so far.

        Raises:
            KeyError: naming the run, when this executor never started it.
        """
        ...

    async def cancel(self, run_id: str) -> None:
        """Stop the run; when this returns its processes are gone. A no-op for
        a finished or unknown run."""
        ...

    async def logs(self, run_id: str) -> str:
        """Everything the run printed so far (progress lines included).

        Raises:
            KeyError: naming the run, when this executor never started it.
        """
        ...

    async def aclose(self) -> None:
        """Release connections; running runs keep running."""
        ...
