"""Picking the read store by URL (``open_store``)."""

from __future__ import annotations

from urllib.parse import urlparse

from covenant._urls import sqlite_path
from covenant.errors import ConfigError
from covenant.store.protocol import ReadStore


def open_store(url: str) -> ReadStore:
    """The read store named by ``url``: ``sqlite:///path/to/read.sqlite3`` (embedded)
    or ``postgresql://user@host:port/database``. The result is an async context
    manager; nothing is opened until it is entered."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        from covenant.store.sqlite import SqliteReadStore

        return SqliteReadStore(sqlite_path(url, parsed, example="read.sqlite3"))
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
