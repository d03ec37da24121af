"""The training rules, pure: what a job request must be before anything runs,
and what each answer and observation leads to.

A request is refused here, with every reason at once, before any policy is asked,
any compute requested or any process started: a branch name instead of a commit,
an unknown dataset, an entrypoint that is not ``module:function``, an unknown
executor. The pool checks (unknown pool, larger than any pool) come from
``covenant.training.pools`` and are passed in, so this module stays free of
configuration.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Mapping
from typing import Any

from covenant.catalog.names import is_family_name
from covenant.catalog.semver import is_semver
from covenant.events.refusals import Refusal
from covenant.events.refusals import RefusalCode as Code
from covenant.events.training import SubmitTraining, TrainingJob
from covenant.training.jobs import TrainingState

_CREDENTIALS = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^/@]*@")
_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_ENTRYPOINT = re.compile(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*")
_JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
MAX_SEED = 2**32 - 1  # numpy's RandomState takes 32-bit seeds
MAX_ATTEMPTS = 20


def has_credentials(repo: str) -> bool:
    """Whether a repository URL carries a user or token (``https://u:t@host/x``):
    it would be written to the log, which keeps everything forever."""
    return _CREDENTIALS.match(repo) is not None


def split_code_ref(code_ref: str) -> tuple[str, str]:
    """``(repo, commit)`` of ``repo#commit``, split at the last ``#``; the commit
    part may still be anything (``submit_refusals`` says when it is not a commit)."""
    repo, hash_sign, commit = code_ref.rpartition("#")
    return (repo, commit) if hash_sign else (code_ref, "")


def _refusal(code: Code, field: str, message: str) -> Refusal:
    return Refusal(code=code, field=field, message=message)


def _code_refusals(command: SubmitTraining) -> list[Refusal]:
    repo, commit = split_code_ref(command.code_ref)
    out: list[Refusal] = []
    if not repo.strip():
        out.append(_refusal(Code.INVALID, "codeRef", "code_ref needs a repository: repo#commit"))
    elif has_credentials(repo):
        out.append(
            _refusal(
                Code.INVALID,
                "codeRef",
                "code_ref carries credentials in its URL; they would be written to the log. "
                "Give the repository without them and let the executor's git credentials "
                "(a credential helper, an SSH key) fetch it",
            )
        )
    if not commit:
        out.append(
            _refusal(Code.INVALID, "codeRef", "code_ref needs a commit: repo#<40-hex commit id>")
        )
    elif not _COMMIT.fullmatch(commit):
        out.append(
            _refusal(
                Code.INVALID,
                "codeRef",
                f"code_ref names {commit!r}, which is not a full commit id; a branch or tag "
                "moves, so a run on it cannot be reproduced. Give the commit "
                f"(git rev-parse {commit})",
            )
        )
    if not _ENTRYPOINT.fullmatch(command.entrypoint):
        out.append(
            _refusal(
                Code.INVALID,
                "entrypoint",
                f"entrypoint {command.entrypoint!r} is not module:function "
                "(e.g. digits.train:train)",
            )
        )
    return out


def _dataset_refusals(command: SubmitTraining, state: TrainingState) -> list[Refusal]:
    if not command.dataset_refs:
        return [_refusal(Code.INVALID, "datasetRefs", "a job trains on at least one dataset")]
    return [
        _refusal(
            Code.INVALID,
            f"datasetRefs.{i}",
            f"dataset {ref!r} is not registered; register it first (covenant datasets register)",
        )
        for i, ref in enumerate(command.dataset_refs)
        if ref not in state.datasets
    ]


def _not_json(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


MAX_HYPERPARAMS_BYTES = 32 * 1024  # they travel on the launcher's command line


def _hyperparam_refusals(hyperparams: Mapping[str, str]) -> list[Refusal]:
    out: list[Refusal] = []
    size = len(json.dumps(dict(hyperparams)).encode())
    if size > MAX_HYPERPARAMS_BYTES:
        out.append(
            _refusal(
                Code.INVALID,
                "hyperparams",
                f"hyperparameters take {size} bytes; at most {MAX_HYPERPARAMS_BYTES}. Put "
                "large configuration in a dataset or in the code",
            )
        )
    for name, literal in sorted(hyperparams.items()):
        try:
            value = json.loads(literal, parse_constant=_not_json)
        except ValueError:
            value = {}
        if isinstance(value, dict | list):
            out.append(
                _refusal(
                    Code.INVALID,
                    f"hyperparams.{name}",
                    f"hyperparameter {name!r} = {literal!r} is not a JSON number, string, "
                    "boolean or null",
                )
            )
    return out


def _settings_refusals(command: SubmitTraining, executors: Collection[str]) -> list[Refusal]:
    out: list[Refusal] = []
    if not is_family_name(command.model_family):
        out.append(
            _refusal(
                Code.INVALID,
                "modelFamily",
                f"model family {command.model_family!r} must be 1-100 of lowercase letters, "
                "digits, '.', '_', '-'",
            )
        )
    if not command.team.strip():
        out.append(_refusal(Code.INVALID, "team", "a job names the team it is charged to"))
    if not 0 <= command.seed <= MAX_SEED:
        out.append(_refusal(Code.INVALID, "seed", f"seed must be in 0..{MAX_SEED}"))
    if not 1 <= command.retry_policy.max_attempts <= MAX_ATTEMPTS:
        out.append(
            _refusal(
                Code.INVALID,
                "retryPolicy.maxAttempts",
                f"max_attempts must be in 1..{MAX_ATTEMPTS}",
            )
        )
    compute = command.compute
    if compute.workers < 1:
        out.append(_refusal(Code.INVALID, "compute.workers", "workers must be at least 1"))
    for name, amount in (("cpus", compute.cpus), ("memoryGb", compute.memory_gb)):
        if not (math.isfinite(amount) and amount > 0):
            out.append(
                _refusal(
                    Code.INVALID,
                    f"compute.{name}",
                    f"compute.{name} must be a positive number, got {amount!r}",
                )
            )
    if compute.accelerators < 0:
        out.append(
            _refusal(Code.INVALID, "compute.accelerators", "accelerators cannot be negative")
        )
    if compute.executor is not None and compute.executor not in executors:
        known = ", ".join(sorted(executors)) or "none"
        out.append(
            _refusal(
                Code.INVALID,
                "compute.executor",
                f"executor {compute.executor!r} is not configured here; configured: {known}",
            )
        )
    target = command.target
    if target is not None and not (is_family_name(target.family) and is_semver(target.version)):
        out.append(
            _refusal(
                Code.INVALID,
                "target",
                f"target {target.family}:{target.version} needs a valid family and a SemVer "
                "version (e.g. vit:1.0.0)",
            )
        )
    return out


def submit_refusals(
    command: SubmitTraining,
    state: TrainingState,
    *,
    pool_refusals: list[Refusal],
    executors: Collection[str],
) -> list[Refusal]:
    """Every reason the job cannot be queued; empty when it can."""
    out: list[Refusal] = []
    if not _JOB_ID.fullmatch(command.job_id):
        out.append(
            _refusal(
                Code.INVALID, "jobId", f"job id {command.job_id!r} must be 1-128 of [A-Za-z0-9._-]"
            )
        )
    elif state.known(command.job_id):
        out.append(
            _refusal(
                Code.CONFLICT,
                "jobId",
                f"job {command.job_id!r} exists; runs are immutable, submit a new job",
            )
        )
    out += _code_refusals(command)
    out += _dataset_refusals(command, state)
    out += _hyperparam_refusals(command.hyperparams)
    out += _settings_refusals(command, executors)
    if command.reproduces is not None and command.reproduces not in state.jobs:
        out.append(
            _refusal(
                Code.INVALID, "reproduces", f"job {command.reproduces!r} to reproduce is unknown"
            )
        )
    return out + pool_refusals


def queued_job(command: SubmitTraining, state: TrainingState) -> TrainingJob:
    """The job as it is recorded: the commit resolved, the checksums of the data
    as the registry has them now (what the run must read)."""
    repo, commit = split_code_ref(command.code_ref)
    return TrainingJob(
        job_id=command.job_id,
        model_family=command.model_family,
        team=command.team,
        dataset_refs=list(command.dataset_refs),
        code_repo=repo,
        code_commit=commit,
        entrypoint=command.entrypoint,
        hyperparams=dict(command.hyperparams),
        seed=command.seed,
        compute=command.compute,
        retry_policy=command.retry_policy,
        retrain_reason=command.retrain_reason,
        target=command.target,
        reproduces=command.reproduces,
        dataset_checksums={ref: state.datasets[ref].checksum for ref in command.dataset_refs},
        created_by=command.meta.actor,
        created_at=command.meta.occurred_at,
    )


def policy_input(job: TrainingJob, state: TrainingState) -> str:
    """The pre-train policy's input document, canonical JSON: the request and the
    registry's facts about every dataset it names (``covenant.policy``)."""
    request: dict[str, Any] = {
        "job_id": job.job_id,
        "model_family": job.model_family,
        "team": job.team,
        "dataset_refs": job.dataset_refs,
        "code_repo": job.code_repo,
        "code_commit": job.code_commit,
        "entrypoint": job.entrypoint,
        "hyperparams": job.hyperparams,
        "seed": job.seed,
        "compute": job.compute.model_dump(mode="json"),
        "retrain_reason": job.retrain_reason,
        "created_by": job.created_by,
    }
    datasets = {}
    for ref in job.dataset_refs:
        facts = state.datasets[ref]
        datasets[ref] = {
            "license": facts.license,
            "pii_flags": facts.pii_flags,
            "clearance": "blocked" if facts.blocked else "allowed",
            "provenance_review": facts.provenance_review.value
            if facts.provenance_review is not None
            else None,
            "approved": facts.approved,
            "checksum": facts.checksum,
        }
    document = {"request": request, "facts": {"datasets": datasets}}
    return json.dumps(document, sort_keys=True, separators=(",", ":"))
