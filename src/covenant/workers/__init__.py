"""The stream workers, one module each.

Workers hold state, so they are built fresh for each run by ``build_workers``
(never module-level objects). They live inside the package (not a top-level
``workers/`` folder as the first layout sketch had it) so that an installed
Covenant ships them and their import name cannot collide with another
distribution's ``workers``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from covenant.blobs.protocol import BlobStore
from covenant.errors import ConfigError
from covenant.runtime.worker import Worker
from covenant.workers.artifacts import make_artifacts_worker
from covenant.workers.datasets import make_datasets_worker
from covenant.workers.openlineage import make_openlineage_worker
from covenant.workers.registry import make_registry_worker


@dataclass(frozen=True)
class Resources:
    """What workers may need besides the log: the artifact store, for now."""

    blobs: BlobStore | None = None

    def require_blobs(self) -> BlobStore:
        if self.blobs is None:
            raise ConfigError("the artifacts worker needs an artifact store (COVENANT_BLOBS)")
        return self.blobs


_FACTORIES: dict[str, Callable[[Resources], Worker]] = {
    "datasets": lambda _: make_datasets_worker(),
    "registry": lambda _: make_registry_worker(),
    "artifacts": lambda r: make_artifacts_worker(r.require_blobs()),
    "openlineage": lambda _: make_openlineage_worker(),
}
WORKER_NAMES: tuple[str, ...] = tuple(_FACTORIES)


def build_workers(
    names: Sequence[str] | None = None, *, resources: Resources | None = None
) -> list[Worker]:
    """Fresh workers, all of them or those named.

    Raises:
        KeyError: naming the known workers, for an unknown name.
        ConfigError: a worker needs a resource that was not given.
    """
    chosen = list(names) if names is not None else list(WORKER_NAMES)
    unknown = [n for n in chosen if n not in _FACTORIES]
    if unknown:
        raise KeyError(f"unknown worker {unknown[0]!r}; known: {', '.join(WORKER_NAMES)}")
    given = resources or Resources()
    return [_FACTORIES[name](given) for name in chosen]
