"""Exactly-once under crashes: 10,000 commands flow through the registry worker
running as its own OS process, which is killed with SIGKILL at random moments (at
least five times) and restarted. A read-committed reader must then find exactly one
output event per command, by causation id: none missing, none twice."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from covenant.bus import Bus, Outgoing
from covenant.events.catalog import MESSAGE_TYPES
from covenant.events.codec import Codec
from covenant.events.registry import ModelRegistered, ModelRejected
from covenant.platform import build_workers
from covenant.runtime.service import wait_until_drained
from covenant.testing import builders
from covenant.topics import ALL_TOPICS, DEADLETTER, MODEL_COMMANDS, MODEL_EVENTS

COMMANDS = 10_000
KILLS = 6

pytestmark = pytest.mark.slow


def start_worker(bus_url: str, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "covenant",
            "-v",
            "worker",
            "registry",
            "--bus",
            bus_url,
            "--batch-size",
            "200",
        ],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


async def test_sigkilled_worker_loses_and_duplicates_nothing(
    bus: Bus, bus_url: str, tmp_path: Path
) -> None:
    codec = Codec(MESSAGE_TYPES)
    await bus.ensure_topics(ALL_TOPICS)
    commands = [
        builders.register_model(f"family-{i % 50}:1.{i}.0", actor="tester") for i in range(COMMANDS)
    ]
    encoded = [Outgoing(MODEL_COMMANDS, c.meta.subject.encode(), codec.encode(c)) for c in commands]

    async def feed() -> None:
        # Commands keep arriving while the worker is being killed, so kills land
        # mid-stream, not after the work is done.
        for start in range(0, COMMANDS, 250):
            await bus.publish(encoded[start : start + 250])
            await asyncio.sleep(0.3)

    log = tmp_path / "worker.log"
    rng = random.Random(7)
    feeder = asyncio.create_task(feed())
    worker = start_worker(bus_url, log)
    kills = 0
    started_before = 0
    try:
        while kills < KILLS:
            await asyncio.sleep(rng.uniform(0.8, 1.8))
            assert worker.poll() is None, log.read_text()[-2000:]
            assert not feeder.done(), "the stream ended before the kills; slow the feeder"
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait()
            kills += 1
            # A kill can land before a worker got as far as logging that it
            # started, so count the lines before each start, not the starts.
            started_before = log.read_text().count("worker registry started")
            worker = start_worker(bus_url, log)
        await feeder
        assert await wait_until_drained(bus, build_workers(["registry"]), timeout_s=180), (
            log.read_text()[-2000:]
        )
        # Stop it the polite way once it is up, to check SIGTERM exits cleanly.
        while log.read_text().count("worker registry started") <= started_before:
            assert worker.poll() is None, log.read_text()[-2000:]
            await asyncio.sleep(0.1)
    finally:
        feeder.cancel()
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    assert worker.returncode == 0, log.read_text()[-2000:]
    assert kills >= 5

    causes = Counter()
    async for rec in bus.read([MODEL_EVENTS]):
        # Registered or rejected (no artifact was stored): one decision per command.
        event = codec.decode(rec.value)
        assert isinstance(event, ModelRegistered | ModelRejected)
        causes[event.meta.causation_id] += 1
    expected = {c.meta.event_id for c in commands}
    missing = expected - set(causes)
    twice = {cause for cause, n in causes.items() if n > 1}
    assert not missing, f"{len(missing)} commands have no event"
    assert not twice, f"{len(twice)} commands have more than one event"
    assert sum(causes.values()) == COMMANDS
    assert [r async for r in bus.read([DEADLETTER])] == []
