"""The stream workers, one module each; ``WORKERS`` is what ``covenant up`` runs.

They live inside the package (not a top-level ``workers/`` folder as the first
layout sketch had it) so that ``pip install covenant`` ships them and their import
name cannot collide with another distribution's ``workers``.
"""

from __future__ import annotations

from covenant.runtime.worker import Worker
from covenant.workers.datasets import DATASETS
from covenant.workers.registry import REGISTRY

WORKERS: tuple[Worker, ...] = (DATASETS, REGISTRY)


def worker_named(name: str) -> Worker:
    """The worker called ``name``.

    Raises:
        KeyError: naming the known workers.
    """
    for worker in WORKERS:
        if worker.name == name:
            return worker
    raise KeyError(f"unknown worker {name!r}; known: {', '.join(w.name for w in WORKERS)}")
