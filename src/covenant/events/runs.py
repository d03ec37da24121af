"""The run record and the dispatches to executors.

The run record is what it takes to run a job again and get the same bytes: the
resolved commit, the environment, the data's checksums, the seed, the
hyperparameters, the compute configuration and the hardware class (bit-identity
holds per hardware class: a CPU and a GPU give different, each reproducible,
results).
"""

from __future__ import annotations

from pydantic import Field

from covenant.events.base import Command, Record
from covenant.topics import RUN_COMMANDS


class RunEnvironment(Record):
    """Where the code ran: a container image, or an interpreter and its packages."""

    image_digest: str | None = Field(default=None, description="sha256:... of the image")
    python: str = Field(description="interpreter version, e.g. 3.11.2")
    implementation: str = "CPython"
    platform: str = Field(description="OS and machine, e.g. Linux-x86_64")
    dependencies_sha256: str = Field(
        description="sha256 of the sorted name==version lines of every installed package"
    )


class DatasetChecksum(Record):
    """One dataset a run read, by the checksum its bytes had."""

    dataset_id: str
    checksum: str


class ComputeConfig(Record):
    """The compute a run used."""

    executor: str
    workers: int = 1
    cpus: float = 1.0
    gpus: float = 0.0
    pool: str | None = None
    accelerator: str | None = None


class RunRecord(Record):
    """Everything that decides a run's outputs."""

    code_repo: str
    code_commit: str
    entrypoint: str
    environment: RunEnvironment
    datasets: list[DatasetChecksum] = Field(default_factory=list)
    seed: int
    hyperparams: dict[str, str] = Field(default_factory=dict, description="JSON literals")
    compute: ComputeConfig
    hardware_class: str = Field(description="e.g. cpu-x86_64, gpu-NVIDIA-H200")


class RunDataset(Record):
    """A dataset a run fetches, and the checksum its bytes must have."""

    dataset_id: str
    artifact_id: str
    checksum: str


class StartRun(Command, type="run.start", topic=RUN_COMMANDS):
    """Start one attempt of a job on an executor; idempotent on (job, attempt)."""

    job_id: str
    attempt: int
    executor: str
    code_repo: str
    code_commit: str
    entrypoint: str
    datasets: list[RunDataset] = Field(default_factory=list)
    hyperparams: dict[str, str] = Field(default_factory=dict, description="JSON literals")
    seed: int = 0
    resume_from: str | None = Field(default=None, description="checkpoint artifact id")
    workers: int = 1
    cpus: float = 1.0
    gpus: float = 0.0


class StopRun(Command, type="run.stop", topic=RUN_COMMANDS):
    """Stop one attempt; a no-op when it already ended."""

    job_id: str
    attempt: int
    executor: str
    reason: str = ""
