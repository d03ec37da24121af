"""``covenant audit replay --until``: the read models as they were at a moment."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from covenant.bus import Outgoing, open_bus
from covenant.events.contract import default_codec
from covenant.testing import builders
from covenant.topics import ALL_TOPICS, MODEL_EVENTS


def registered(version: str) -> Outgoing:
    # The system clock on purpose: the replay's --until is compared with real time.
    event = builders.model_registered(f"vit:{version}", actor="a")
    return Outgoing(MODEL_EVENTS, event.meta.subject.encode(), default_codec().encode(event))


async def publish(url: str, *versions: str) -> None:
    async with open_bus(url) as bus:
        await bus.ensure_topics(ALL_TOPICS)
        await bus.publish([registered(v) for v in versions])


def covenant(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "covenant", "audit", "replay", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COVENANT_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )


def test_replay_until_rebuilds_the_past_into_a_separate_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.sqlite3'}"
    asyncio.run(publish(url, "1.0.0", "1.1.0"))
    time.sleep(0.05)
    moment = datetime.now(UTC)
    time.sleep(0.05)
    asyncio.run(publish(url, "2.0.0"))

    def replay(until: datetime, name: str) -> dict[str, Any]:
        result = covenant(
            tmp_path,
            "--bus", url,
            "--until", until.isoformat(),
            "--store", f"sqlite:///{tmp_path / name}",
            "--json",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        document: dict[str, Any] = json.loads(result.stdout)
        return document

    then = replay(moment, "then.sqlite3")
    now = replay(datetime.now(UTC), "now.sqlite3")
    assert (then["applied"], now["applied"]) == (2, 3)
    assert (then["rows"]["models"], now["rows"]["models"]) == (2, 3)


def test_replay_refuses_a_bad_time_and_the_live_store(tmp_path: Path) -> None:
    bad = covenant(tmp_path, "--until", "yesterday", "--store", "sqlite:///x.sqlite3")
    assert bad.returncode == 1
    assert "ISO 8601" in bad.stderr
    live = covenant(
        tmp_path,
        "--until", "2026-01-01T00:00:00Z",
        "--store", f"sqlite:///{tmp_path / 'read.sqlite3'}",
    )  # fmt: skip
    assert live.returncode == 1
    assert "own read store" in live.stderr
