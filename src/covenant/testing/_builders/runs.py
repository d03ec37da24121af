"""Builders for the run record and the dispatches to executors (``covenant.events.runs``).

Also the defaults every training builder shares: the job ``job-1`` of team
``vision`` trains family ``vit`` from ``CODE_REF`` (a repository at a full 40-hex
commit) with ``digits.train:train`` on dataset ``d1``, whose bytes are
``artifact_stored("d1")`` and whose checksum is ``dataset_registered("d1")``'s.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Final, Unpack

from covenant.events import runs
from covenant.testing._builders._meta import Meta, build, sha, strings

JOB_ID: Final = "job-1"
TEAM: Final = "vision"
MODEL_FAMILY: Final = "vit"
CODE_REPO: Final = "git@example.com:vit.git"
CODE_COMMIT: Final = "08911e33eb786e169142ad56128b2da74f18ee4a"
CODE_REF: Final = f"{CODE_REPO}#{CODE_COMMIT}"
ENTRYPOINT: Final = "digits.train:train"
DATASETS: Final = ("d1",)
EXECUTOR: Final = "local"
POOL: Final = "cpu-local"
HARDWARE_CLASS: Final = "cpu-x86_64"
ENVIRONMENT: Final = runs.RunEnvironment(
    python="3.11.2",
    platform="Linux-x86_64",
    dependencies_sha256="56515f5b3cecdebeac9c82fc3ef670be9e8b49ef02dfbcb98a2886581cd9c6c1",
)
"""Where the default run ran: CPython 3.11.2 on Linux-x86_64, no container image."""

JsonScalar = str | int | float | bool | None


def split_code_ref(code_ref: str) -> tuple[str, str]:
    """``(repo, commit)`` of ``repo#commit``, split at the last ``#``.

    Raises:
        ValueError: ``code_ref`` has no ``#``.
    """
    repo, hash_sign, commit = code_ref.rpartition("#")
    if not hash_sign:
        raise ValueError(f"a code ref is repo#commit, got {code_ref!r}")
    return repo, commit


def literals(hyperparams: Mapping[str, JsonScalar] | None) -> dict[str, str]:
    """Hyperparameters as the contract carries them, each value a JSON literal:
    ``{"lr": 0.01, "opt": "adam"}`` → ``{"lr": "0.01", "opt": "\\"adam\\""}``."""
    return {name: json.dumps(value) for name, value in (hyperparams or {}).items()}


def checksums(datasets: Sequence[str], given: Mapping[str, str] | None = None) -> dict[str, str]:
    """Dataset id → checksum: ``given``'s, else ``sha(id)`` (``dataset_registered(id)``'s)."""
    known = dict(given or {})
    return {d: known.get(d, sha(d)) for d in strings("datasets", datasets)}


def run_record(
    *,
    code_ref: str = CODE_REF,
    entrypoint: str = ENTRYPOINT,
    datasets: Sequence[str] = DATASETS,
    dataset_checksums: Mapping[str, str] | None = None,
    seed: int = 0,
    hyperparams: Mapping[str, JsonScalar] | None = None,
    environment: runs.RunEnvironment = ENVIRONMENT,
    executor: str = EXECUTOR,
    workers: int = 1,
    cpus: float = 1.0,
    gpus: float = 0.0,
    pool: str | None = POOL,
    accelerator: str | None = None,
    hardware_class: str = HARDWARE_CLASS,
) -> runs.RunRecord:
    """The record of one run: with the defaults, the default job's first run on the
    local executor in pool ``cpu-local``. ``hyperparams`` are JSON scalars (see
    ``literals``); each dataset's checksum is ``dataset_checksums``' or ``sha(id)``."""
    repo, commit = split_code_ref(code_ref)
    return runs.RunRecord(
        code_repo=repo,
        code_commit=commit,
        entrypoint=entrypoint,
        environment=environment,
        datasets=[
            runs.DatasetChecksum(dataset_id=d, checksum=c)
            for d, c in checksums(datasets, dataset_checksums).items()
        ],
        seed=seed,
        hyperparams=literals(hyperparams),
        compute=runs.ComputeConfig(
            executor=executor,
            workers=workers,
            cpus=cpus,
            gpus=gpus,
            pool=pool,
            accelerator=accelerator,
        ),
        hardware_class=hardware_class,
    )


def start_run(
    job_id: str = JOB_ID,
    attempt: int = 1,
    *,
    executor: str = EXECUTOR,
    code_ref: str = CODE_REF,
    entrypoint: str = ENTRYPOINT,
    datasets: Sequence[str] = DATASETS,
    dataset_checksums: Mapping[str, str] | None = None,
    hyperparams: Mapping[str, JsonScalar] | None = None,
    seed: int = 0,
    resume_from: str | None = None,
    workers: int = 1,
    cpus: float = 1.0,
    gpus: float = 0.0,
    **meta: Unpack[Meta],
) -> runs.StartRun:
    """A ``run.start`` dispatch, as the training worker writes it (subject: the job).

    Each dataset is fetched from ``sha(id)`` (``artifact_stored(id)``) and checked
    against ``dataset_checksums``' checksum, else ``sha(id)``; ``hyperparams`` are
    JSON scalars (see ``literals``).
    """
    repo, commit = split_code_ref(code_ref)
    return build(
        runs.StartRun,
        meta,
        subject=job_id,
        producer="training",
        job_id=job_id,
        attempt=attempt,
        executor=executor,
        code_repo=repo,
        code_commit=commit,
        entrypoint=entrypoint,
        datasets=[
            runs.RunDataset(dataset_id=d, artifact_id=sha(d), checksum=c)
            for d, c in checksums(datasets, dataset_checksums).items()
        ],
        hyperparams=literals(hyperparams),
        seed=seed,
        resume_from=resume_from,
        workers=workers,
        cpus=cpus,
        gpus=gpus,
    )


def stop_run(
    job_id: str = JOB_ID,
    attempt: int = 1,
    *,
    executor: str = EXECUTOR,
    reason: str = "cancelled on request",
    **meta: Unpack[Meta],
) -> runs.StopRun:
    """A ``run.stop`` dispatch, as the training worker writes it (subject: the job)."""
    return build(
        runs.StopRun,
        meta,
        subject=job_id,
        producer="training",
        job_id=job_id,
        attempt=attempt,
        executor=executor,
        reason=reason,
    )
