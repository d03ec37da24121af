"""The audit worker killed with SIGKILL at random moments, on both logs: records keep
arriving while it is killed and restarted, and each kill lands while it is committing
(after it has started and written to the audit topic). At the end the tree holds every
published record exactly once (leaves counted per position) and every checkpoint
verifies."""

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

from covenant.audit.trail import load_trail
from covenant.audit.verify import verify_live
from covenant.bus import Bus, Outgoing, Position
from covenant.events.audit import CheckpointSigned, LeavesAppended
from covenant.events.catalog import MESSAGE_TYPES
from covenant.events.codec import Codec
from covenant.signing import LocalKeySigner
from covenant.testing import builders
from covenant.topics import ALL_TOPICS, AUDIT, DATASET_COMMANDS, MODEL_COMMANDS, MODEL_EVENTS

pytestmark = pytest.mark.slow

KILLS = 3
CHUNK = 40
CODEC = Codec((*MESSAGE_TYPES, LeavesAppended, CheckpointSigned))
STARTED = "audit worker started"


def start_worker(bus_url: str, key: Path, log: Path, home: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "covenant.audit.worker",
            "-v",
            "--bus",
            bus_url,
            "--key",
            str(key),
            "--checkpoint-every",
            "60",
            "--checkpoint-interval",
            "0.3",
            "--batch-size",
            "50",
        ],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "COVENANT_HOME": str(home)},
    )


def chunk(n: int, rng: random.Random) -> list[Outgoing]:
    records = []
    for i in range(n):
        if rng.random() < 0.1:
            topic = rng.choice([DATASET_COMMANDS, MODEL_EVENTS])
            records.append(Outgoing(topic, b"junk-%d" % i, rng.randbytes(rng.randint(0, 50))))
            continue
        c = builders.register_model(
            f"f{i % 9}:1.0.0", subject=f"model:f{i % 9}:{rng.random()}", actor="t"
        )
        records.append(Outgoing(MODEL_COMMANDS, c.meta.subject.encode(), CODEC.encode(c)))
    return records


async def test_sigkilled_audit_worker_leaves_every_record_in_the_tree_exactly_once(
    bus: Bus, bus_url: str, tmp_path: Path
) -> None:
    await bus.ensure_topics(ALL_TOPICS)
    key = tmp_path / "audit.pem"
    public = LocalKeySigner.generate(key).public_key_pem()
    log = tmp_path / "worker.log"
    rng = random.Random(17)
    published: list[Position] = []
    killing = True

    async def feed() -> None:
        # Records keep coming until every kill has landed, so kills hit a busy worker.
        while killing:
            published.extend(await bus.publish(chunk(CHUNK, rng)))
            await asyncio.sleep(0.05)

    def started() -> int:
        return log.read_text().count(STARTED) if log.exists() else 0

    async def wait_started(n: int) -> None:
        while started() < n:
            assert worker.poll() is None, log.read_text()[-3000:]
            await asyncio.sleep(0.05)

    async def wait_working() -> None:
        """Until the worker has committed since it started (on Kafka it first waits
        for the group to hand it the dead member's partitions)."""
        base = sum((await bus.end_offsets(AUDIT)).values())
        deadline = asyncio.get_running_loop().time() + 60
        while sum((await bus.end_offsets(AUDIT)).values()) <= base:
            assert worker.poll() is None, log.read_text()[-3000:]
            assert asyncio.get_running_loop().time() < deadline, log.read_text()[-3000:]
            await asyncio.sleep(0.05)

    feeder = asyncio.create_task(feed())
    worker = start_worker(bus_url, key, log, tmp_path)
    kills = 0
    try:
        while kills < KILLS:
            await wait_started(kills + 1)
            await wait_working()
            await asyncio.sleep(rng.uniform(0.0, 0.4))
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait()
            kills += 1
            worker = start_worker(bus_url, key, log, tmp_path)
        killing = False
        await feeder
        await wait_started(kills + 1)
        deadline = asyncio.get_running_loop().time() + 90
        while True:
            trail = await load_trail(bus, CODEC)
            if trail.latest is not None and trail.latest.tree_size >= len(published):
                break
            assert asyncio.get_running_loop().time() < deadline, log.read_text()[-3000:]
            assert worker.poll() is None, log.read_text()[-3000:]
            await asyncio.sleep(0.2)
    finally:
        killing = False
        feeder.cancel()
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    assert worker.returncode == 0, log.read_text()[-3000:]
    assert kills >= KILLS

    leaves = Counter((leaf.topic, leaf.partition, leaf.offset) for leaf in trail.leaves)
    expected = {(p.topic, p.partition, p.offset) for p in published}
    assert not expected - set(leaves), f"{len(expected - set(leaves))} records not in the tree"
    assert not set(leaves) - expected, "leaves for records that were never published"
    assert [pos for pos, n in leaves.items() if n > 1] == [], "records in the tree twice"
    assert len(trail.leaves) == len(published)

    result = await verify_live(bus, public_key_pem=public, codec=CODEC)
    assert result.ok, result.discrepancy
    assert (result.records, result.pending) == (len(published), 0)
    assert result.checkpoints == len(trail.checkpoints) >= KILLS
