"""Read models: projections of the log into SQLite (embedded) or PostgreSQL.

The projector that feeds a store lives in ``covenant.store.projector`` (also a
process: ``python -m covenant.store.projector``); it is not imported here, so this
package stays light for readers such as the gateway.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from covenant.errors import ConfigError, StoreError
from covenant.store.protocol import ReadStore
from covenant.store.views import (
    ArtifactView,
    DatasetApproval,
    DatasetView,
    Downstream,
    EdgeKind,
    LineageEdge,
    ModelView,
    StatusChange,
    TransformationView,
    Upstream,
)

__all__ = [
    "ArtifactView",
    "DatasetApproval",
    "DatasetView",
    "Downstream",
    "EdgeKind",
    "LineageEdge",
    "ModelView",
    "ReadStore",
    "StatusChange",
    "StoreError",
    "TransformationView",
    "Upstream",
    "open_store",
]


def open_store(url: str) -> ReadStore:
    """The read store named by ``url``: ``sqlite:///path/to/read.sqlite3`` (embedded)
    or ``postgresql://user@host:port/database``. The result is an async context
    manager; nothing is opened until it is entered."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        from covenant.store.sqlite import SqliteReadStore

        path = parsed.path if not parsed.netloc else f"{parsed.netloc}{parsed.path}"
        if not path:
            raise ConfigError(f"{url!r}: give a file, e.g. sqlite:///var/covenant/read.sqlite3")
        return SqliteReadStore(Path(path))
    if parsed.scheme in ("postgresql", "postgres"):
        try:
            from covenant.store.postgres import PostgresReadStore
        except ImportError as exc:  # asyncpg is what is missing
            raise ConfigError(
                f"{url!r} needs the PostgreSQL driver: pip install 'asyncpg>=0.30'"
            ) from exc
        return PostgresReadStore(url)
    raise ConfigError(
        f"unsupported read-store URL {url!r}: use sqlite:///path/to/read.sqlite3 "
        "or postgresql://user@host:port/database"
    )
