"""Stateful workers scale out: several registry instances share the command
partitions, yet each decides on every fact, whichever partition it is on.

Facts (stored artifacts, registered datasets) are written straight to their
topics, each immediately followed by the model command that names them, so a
command is consumed the instant after the fact it depends on: the read barrier
must have the fact in the state before the command is judged. One instance is
SIGKILLed mid-run and restarted. Every command must get exactly one outcome, every
valid one a registration (no false rejections), every duplicate version a
conflict, and no version is registered twice.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from covenant.bus import Bus, open_bus
from covenant.events.artifacts import ArtifactStored
from covenant.events.base import Message, utc_now
from covenant.events.contract import default_codec
from covenant.events.datasets import DatasetLineage, DatasetRegistered, TrainingClearance
from covenant.events.refusals import RefusalCode
from covenant.events.registry import ModelLineage, ModelRegistered, ModelRejected, RegisterModel
from covenant.topics import ALL_TOPICS, MODEL_EVENTS, deployed

MODELS = 60
DUPLICATES = 6  # a second command for an already-requested version
pytestmark = pytest.mark.slow
_COMMAND = (sys.executable, "-m", "covenant", "-v", "worker", "registry")


def _start(bus_url: str, instance: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "COVENANT_PARTITIONS": "6"}
    return subprocess.Popen(
        [*_COMMAND, "--bus", bus_url, "--instance", str(instance), "--batch-size", "20"],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        env=env,
    )


def _facts(i: int) -> list[Message]:
    sha = f"sha256:{i:064x}"
    artifact = ArtifactStored.create(
        subject=sha,
        actor="t",
        producer="artifacts",
        artifact_id=sha,
        name=f"w{i}.bin",
        media_type="application/octet-stream",
        size_bytes=1,
        blob_uri=f"file:///blobs/{i}",
    )
    dataset = DatasetRegistered.create(
        subject=f"dataset:d{i}",
        actor="t",
        producer="datasets",
        lineage=DatasetLineage(
            dataset_id=f"d{i}",
            checksum=sha,
            license="CC-BY-4.0",
            created_at=utc_now(),
            created_by="t",
        ),
        clearance=TrainingClearance.ALLOWED,
    )
    return [artifact, dataset]


def _command(i: int, version: str) -> RegisterModel:
    family = f"fam-{i % 7}"
    command: RegisterModel = RegisterModel.create(
        subject=f"model:{family}:{version}",
        actor="t",
        producer="test",
        family=family,
        version=version,
        code_ref="git@example.com:x.git#abc",
        artifact_id=f"sha256:{i:064x}",
        lineage=ModelLineage(dataset_refs=[f"d{i}"]),
    )
    return command


async def _outcomes(bus: Bus, wanted: int, timeout_s: float) -> list[Message]:
    codec = default_codec()
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        events = [codec.decode(r.value) async for r in bus.read([MODEL_EVENTS])]
        if len(events) >= wanted or asyncio.get_running_loop().time() > deadline:
            return events
        await asyncio.sleep(0.5)


@pytest.mark.parametrize(
    ("backend", "instances"),
    [("sqlite", 1), pytest.param("kafka", 3, marks=pytest.mark.kafka)],
)
async def test_instances_decide_on_every_fact_and_survive_a_kill(
    backend: str, instances: int, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "kafka":
        bootstrap = request.getfixturevalue("kafka_bootstrap")
        bus_url = f"kafka://{bootstrap}?namespace=t{os.urandom(4).hex()}."
    else:
        bus_url = f"sqlite:///{tmp_path / 'log.sqlite3'}"
    codec = default_codec()
    log = tmp_path / "workers.log"
    async with open_bus(bus_url) as bus:
        await bus.ensure_topics(deployed(ALL_TOPICS, partitions=6))
        workers = [_start(bus_url, n, log) for n in range(instances)]
        commands: list[RegisterModel] = []
        duplicates: list[RegisterModel] = []
        try:
            for i in range(MODELS):
                command = _command(i, f"1.{i}.0")
                commands.append(command)
                batch: list[Message] = [*_facts(i), command]
                if i % (MODELS // DUPLICATES) == 0:
                    duplicates.append(_command(i, f"1.{i}.0"))
                    batch.append(duplicates[-1])
                await bus.publish([codec.outgoing(m) for m in batch])
                if i == MODELS // 2:  # mid-run: kill one instance, start it again
                    victim = workers[-1]
                    os.kill(victim.pid, signal.SIGKILL)
                    victim.wait()
                    workers[-1] = _start(bus_url, instances - 1, log)
                await asyncio.sleep(0.05)
            events = await _outcomes(bus, MODELS + DUPLICATES, timeout_s=240)
        finally:
            for worker in workers:
                worker.send_signal(signal.SIGTERM)
            for worker in workers:
                worker.wait(timeout=60)
    tail = log.read_text()[-3000:]
    by_cause = Counter(e.meta.causation_id for e in events)
    asked = [c.meta.event_id for c in commands + duplicates]
    assert sorted(by_cause) == sorted(asked), tail  # every command answered
    assert all(n == 1 for n in by_cause.values()), tail  # exactly once each
    registered = [e for e in events if isinstance(e, ModelRegistered)]
    rejected = [e for e in events if isinstance(e, ModelRejected)]
    false = [
        e.reasons
        for e in rejected
        if e.meta.causation_id not in {d.meta.event_id for d in duplicates}
    ]
    assert false == [], tail  # no valid registration was refused
    assert sorted(e.meta.causation_id for e in registered) == sorted(
        c.meta.event_id for c in commands
    )
    versions = Counter(e.entry.model_id for e in registered)
    assert max(versions.values()) == 1  # no version registered twice
    assert all([r.code for r in e.refusals] == [RefusalCode.CONFLICT] for e in rejected)
    assert len(rejected) == DUPLICATES
