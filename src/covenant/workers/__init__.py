"""The stream workers, one module each.

Workers hold state, so they are built fresh for each run by ``build_workers``
(never module-level objects). They live inside the package (not a top-level
``workers/`` folder as the first layout sketch had it) so that an installed
Covenant ships them and their import name cannot collide with another
distribution's ``workers``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from covenant.runtime.worker import Worker
from covenant.workers.datasets import make_datasets_worker
from covenant.workers.registry import make_registry_worker

_FACTORIES: dict[str, Callable[[], Worker]] = {
    "datasets": make_datasets_worker,
    "registry": make_registry_worker,
}
WORKER_NAMES: tuple[str, ...] = tuple(_FACTORIES)


def build_workers(names: Sequence[str] | None = None) -> list[Worker]:
    """Fresh workers, all of them or those named.

    Raises:
        KeyError: naming the known workers, for an unknown name.
    """
    chosen = list(names) if names is not None else list(WORKER_NAMES)
    unknown = [n for n in chosen if n not in _FACTORIES]
    if unknown:
        raise KeyError(f"unknown worker {unknown[0]!r}; known: {', '.join(WORKER_NAMES)}")
    return [_FACTORIES[name]() for name in chosen]
