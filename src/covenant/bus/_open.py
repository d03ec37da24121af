"""Picking the log by URL (``open_bus``)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from covenant._urls import sqlite_path
from covenant.bus.protocol import Bus
from covenant.errors import ConfigError


def open_bus(url: str, *, connect_timeout_s: float | None = None) -> Bus:
    """The log named by ``url``: ``sqlite:///path/to/log.sqlite3`` (embedded) or
    ``kafka://host:port[,host:port][?namespace=prefix.]``. The result is an async
    context manager.

    A Kafka bus waits for a broker that is down, for as long as it takes, as a
    worker should; ``connect_timeout_s`` bounds that wait for callers that would
    rather fail (a one-shot command on a terminal)."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        from covenant.bus.sqlite import SqliteBus

        return SqliteBus(sqlite_path(url, parsed, example="log.sqlite3"))
    if parsed.scheme == "kafka":
        from covenant.bus.kafka import KafkaBus

        if not parsed.netloc:
            raise ConfigError(f"{url!r}: give the brokers, e.g. kafka://127.0.0.1:9092")
        namespace = parse_qs(parsed.query).get("namespace", [""])[0]
        return KafkaBus(parsed.netloc, namespace=namespace, connect_timeout_s=connect_timeout_s)
    raise ConfigError(
        f"unsupported log URL {url!r}: use sqlite:///path/to/log.sqlite3 or kafka://host:port"
    )
