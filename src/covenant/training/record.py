"""The run record: what a run was made of, captured before the entrypoint runs.

It is what makes a run reproducible and auditable: the exact commit, the interpreter
and every installed distribution (as one digest, so two records compare in one
glance), the hardware class, the dataset checksums, the seed and hyperparameters,
and the compute the run asked for. Nothing in it is ephemeral (no paths, no times,
no host names), so two attempts of the same job on the same image record the same.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import platform
import re
from collections.abc import Iterable, Mapping
from importlib import metadata
from typing import Any

from covenant.training.executors.protocol import RunSpec

__all__ = [
    "dependencies_sha256",
    "dependency_lines",
    "environment",
    "hardware_class",
    "redact_url",
    "run_record",
]

IMAGE_DIGEST_ENV = "COVENANT_IMAGE_DIGEST"


def redact_url(url: str) -> str:
    """``url`` without its credentials (``https://user:token@host/x`` →
    ``https://***@host/x``), so a repository URL can be logged and recorded."""
    return re.sub(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@]*@", r"\1***@", url)


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def dependency_lines(
    distributions: Iterable[metadata.Distribution] | None = None,
) -> list[str]:
    """Sorted, deduplicated ``name==version`` of every installed distribution
    (names normalised as PEP 503 does, so ``Foo_Bar`` and ``foo-bar`` are one)."""
    found = metadata.distributions() if distributions is None else distributions
    lines = set()
    for dist in found:
        name = dist.metadata["Name"]
        if name:
            lines.add(f"{_normalise(name)}=={dist.version}")
    return sorted(lines)


def dependencies_sha256(lines: Iterable[str] | None = None) -> str:
    """SHA-256 (hex) over the sorted dependency lines, one per line, each ending
    in a newline; the same set of installed versions always hashes the same."""
    chosen = dependency_lines() if lines is None else lines
    body = "".join(f"{line}\n" for line in sorted(set(chosen)))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def hardware_class() -> str:
    """``gpu-<name>`` of the first GPU NVML sees (when ``pynvml`` is importable),
    else ``cpu-<machine>``; pynvml is optional and never a dependency."""
    try:
        nvml: Any = importlib.import_module("pynvml")
        nvml.nvmlInit()
    except Exception:  # not installed, no driver, no GPU: this is a CPU host
        return f"cpu-{platform.machine() or 'unknown'}"
    try:
        if nvml.nvmlDeviceGetCount() > 0:
            name = nvml.nvmlDeviceGetName(nvml.nvmlDeviceGetHandleByIndex(0))
            if isinstance(name, bytes):
                name = name.decode("utf-8", "replace")
            return "gpu-" + re.sub(r"[^a-z0-9]+", "-", str(name).lower()).strip("-")
    except Exception:  # a driver that answers init but not the query
        pass
    finally:
        with contextlib.suppress(Exception):
            nvml.nvmlShutdown()
    return f"cpu-{platform.machine() or 'unknown'}"


def environment(env: Mapping[str, str]) -> dict[str, Any]:
    """The interpreter, platform and installed distributions; the image digest when
    the executor says which image it runs (``COVENANT_IMAGE_DIGEST``)."""
    found: dict[str, Any] = {
        "python": {
            "implementation": platform.python_implementation(),
            "version": platform.python_version(),
        },
        "platform": platform.platform(),
        "dependencies_sha256": dependencies_sha256(),
    }
    digest = env.get(IMAGE_DIGEST_ENV)
    if digest:
        found["image_digest"] = digest
    return found


def run_record(
    spec: RunSpec,
    *,
    commit: str,
    executor: str,
    env: Mapping[str, str],
    hardware: str | None = None,
) -> dict[str, Any]:
    """The record printed with ``started`` and ``completed``.

    Args:
        commit: the commit the checkout resolved to (``HEAD`` after checkout).
        executor: the executor kind that started the run.
        env: where ``COVENANT_IMAGE_DIGEST`` is read from.
        hardware: the hardware class, when the caller knows it (tests).
    """
    return {
        "job_id": spec.job_id,
        "attempt": spec.attempt,
        "code": {
            "repo": redact_url(spec.code_repo),
            "commit": commit,
            "entrypoint": spec.entrypoint,
        },
        "environment": environment(env),
        "hardware_class": hardware if hardware is not None else hardware_class(),
        "datasets": {d.name: d.checksum for d in spec.datasets},
        "seed": spec.seed,
        "hyperparams": dict(spec.hyperparams),
        "resume_from": spec.resume_from,
        "compute": {
            "executor": executor,
            "workers": spec.workers,
            "cpus": spec.cpus,
            "gpus": spec.gpus,
        },
    }
