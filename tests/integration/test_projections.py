"""Projections end to end: the projector follows the real log (embedded and Kafka) into a
real store (SQLite and PostgreSQL), and what it built equals a rebuild from the log —
also after being killed with SIGKILL mid-stream, as its own OS process."""

from __future__ import annotations

import asyncio
import math
import os
import random
import signal
import subprocess
import sys
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from covenant.bus import Bus, Outgoing, open_bus
from covenant.events.artifacts import ArtifactStored
from covenant.events.base import Message
from covenant.events.catalog import MESSAGE_TYPES
from covenant.events.codec import Codec
from covenant.events.datasets import DatasetRegistered
from covenant.events.registry import ModelRegistered
from covenant.store import ReadStore, open_store
from covenant.store.projector import rebuild, run_projection, wait_caught_up
from covenant.testing import FrozenClock, builders
from covenant.testing.builders import sha
from covenant.testing.postgres import LocalPostgres
from covenant.topics import ALL_TOPICS, MODEL_EVENTS

T0 = datetime(2025, 6, 1, 12, 0, 0, 250000, tzinfo=UTC)
CLOCK = FrozenClock(T0)
CODEC = Codec(MESSAGE_TYPES)


def dataset(dataset_id: str) -> DatasetRegistered:
    step = builders.transformation("clean", code_ref="git@x:etl.git#1", checksum=sha("c"))
    return builders.dataset_registered(
        dataset_id,
        source_refs=[f"s3://raw/{dataset_id}"],
        transformations=[step],
        actor="alice",
        clock=CLOCK,
    )


def artifact(name: str) -> ArtifactStored:
    return builders.artifact_stored(
        name,
        media_type="application/x-safetensors",
        size_bytes=len(name) * 1000,
        run_config={"seed": "1"},
        actor="bob",
        clock=CLOCK,
    )


def model(
    model_id: str, *, datasets: Sequence[str] = (), parents: Sequence[str] = (), nan: bool = False
) -> ModelRegistered:
    family, version = builders.split_model_id(model_id)
    return builders.model_registered(
        model_id,
        code_ref=f"git@x:{family}.git#{version}",
        datasets=datasets,
        parents=parents,
        metrics={"loss": math.nan if nan else 0.25},
        actor="carol",
        clock=CLOCK,
    )


def chunk(i: int) -> list[Message]:
    """A slice of a mixed history: datasets, artifacts, models with lineage, a
    duplicate registration and rejections of every kind."""
    out: list[Message] = []
    for j in range(5):
        out += [dataset(f"d{i}-{j}"), artifact(f"weights f{j}:1.{i}.0")]
        parents = [f"f{j}:1.{i - 1}.0"] if i else []
        out.append(model(f"f{j}:1.{i}.0", datasets=[f"d{i}-{j}"], parents=parents))
    out.append(model(f"f0:1.{i}.0", datasets=["other"]))  # a later duplicate: ignored
    out += [
        builders.dataset_cleared(f"d{i}-0", reason="ok", actor="dana", clock=CLOCK),
        builders.dataset_rejected("x", reasons=[f"bad {i}"], actor="dana", clock=CLOCK),
        builders.artifact_rejected("x", reason=f"bad {i}", actor="dana", clock=CLOCK),
        builders.model_rejected("X:1", reasons=[f"bad {i}"], actor="dana", clock=CLOCK),
    ]
    return out


PER_CHUNK = len(chunk(0))


def outgoing(messages: Sequence[Message]) -> list[Outgoing]:
    return [Outgoing(m.TOPIC, m.meta.subject.encode(), CODEC.encode(m)) for m in messages]


def odd_records() -> list[Outgoing]:
    """Records a projection must survive: garbage bytes, a command type it does not
    project (written to an event topic), and an event the store refuses (NaN)."""
    command = builders.register_model("cmd:1.0.0", clock=CLOCK)
    return [
        Outgoing(MODEL_EVENTS, b"model:garbage", b"\xc3\x01not avro at all"),
        Outgoing(MODEL_EVENTS, b"model:cmd", CODEC.encode(command)),
        *outgoing([model("nan:1.0.0", nan=True)]),
    ]


def pg_url(server: LocalPostgres) -> str:
    return server.create_database(f"t{uuid.uuid4().hex[:12]}")


async def project_live(bus: Bus, store: ReadStore, *, before: int, during: int) -> None:
    """Publish ``before`` chunks, start the projector, publish ``during`` more while it
    runs, stop it when caught up; then start it again over one more chunk, so the
    restart path (offsets from the store) runs too."""
    await bus.ensure_topics(ALL_TOPICS)
    for i in range(before):
        await bus.publish(outgoing(chunk(i)))
    await bus.publish(odd_records())
    for run, chunks in enumerate((range(before, before + during), [before + during])):
        stop = asyncio.Event()
        task = asyncio.create_task(run_projection(bus=bus, store=store, codec=CODEC, stop=stop))
        for i in chunks:
            await bus.publish(outgoing(chunk(i)))
        assert await wait_caught_up(bus=bus, store=store, timeout_s=60)
        stop.set()
        stats = await asyncio.wait_for(task, timeout=30)
        if run == 0:
            assert (stats.undecodable, stats.unprojectable) == (1, 1)
        else:
            assert stats.applied == len(chunk(0))
            assert (stats.undecodable, stats.unprojectable) == (0, 0)


def assert_history(dump: dict[str, list[dict[str, object]]], chunks: int) -> None:
    assert len(dump["datasets"]) == len(dump["artifacts"]) == 5 * chunks
    assert len(dump["models"]) == len(dump["model_status_history"]) == 5 * chunks
    assert len(dump["rejections"]) == 3 * chunks
    assert len(dump["dataset_clearances"]) == chunks
    assert all(m["dataset_refs"] != ["other"] for m in dump["models"])
    # Every projected event exactly once: 5 datasets, 5 artifacts, 6 models, 3
    # rejections and 1 clearance a chunk (the counter commits with the rows).
    applied = [r["applied"] for r in dump["projection_offsets"]]
    assert sum(n for n in applied if isinstance(n, int)) == PER_CHUNK * chunks


async def test_live_projection_equals_a_rebuild(bus: Bus, tmp_path: Path) -> None:
    async with open_store(f"sqlite:///{tmp_path / 'live.sqlite3'}") as live:
        await project_live(bus, live, before=2, during=2)
        dump = await live.dump()
        assert_history(dump, chunks=5)
        skipped = {(r["topic"], r["event_id"] is None) for r in dump["projection_skips"]}
        assert skipped == {(MODEL_EVENTS.name, True), (MODEL_EVENTS.name, False)}
        up = await live.upstream(model_id="f1:1.4.0")
        assert up is not None
        assert [m.model_id for m in up.models] == [f"f1:1.{i}.0" for i in range(4)]
        assert len(up.datasets) == 5
        down = await live.downstream(dataset_id="d0-1")
        assert [m.model_id for m in down.models] == [f"f1:1.{i}.0" for i in range(5)]

        async with open_store(f"sqlite:///{tmp_path / 'rebuilt.sqlite3'}") as fresh:
            stats = await rebuild(bus=bus, store=fresh, codec=CODEC)
            assert (stats.applied, stats.undecodable, stats.unprojectable) == (PER_CHUNK * 5, 1, 1)
            assert await fresh.dump() == dump
        await rebuild(bus=bus, store=live, codec=CODEC, batch_size=7)  # in place, small batches
        assert await live.dump() == dump


async def test_projection_into_postgresql_equals_sqlite_rebuild(
    tmp_path: Path, local_postgres: LocalPostgres
) -> None:
    async with open_bus(f"sqlite:///{tmp_path / 'log.sqlite3'}") as bus:
        async with open_store(pg_url(local_postgres)) as live:
            await project_live(bus, live, before=1, during=2)
            dump = await live.dump()
        assert_history(dump, chunks=4)
        for url in (pg_url(local_postgres), f"sqlite:///{tmp_path / 'read.sqlite3'}"):
            async with open_store(url) as fresh:
                await rebuild(bus=bus, store=fresh, codec=CODEC)
                assert await fresh.dump() == dump


def start_projector(bus_url: str, store_url: str, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "covenant.store.projector",
            "--bus",
            bus_url,
            "--store",
            store_url,
            "--batch-size",
            "100",
        ],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def text(log: Path) -> str:
    return log.read_text()


async def wait_started(proc: subprocess.Popen[bytes], log: Path, times: int) -> None:
    """Wait until the projector has logged ``times`` starts in all (it logs once
    ready: topics created, offsets loaded, reader running)."""
    for _ in range(300):
        assert proc.poll() is None, text(log)[-3000:]
        if text(log).count("projection started") >= times:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"projector did not start:\n{text(log)[-3000:]}")


KILLS = 3


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_sigkilled_projector_applies_every_event_exactly_once(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    bus_url = f"sqlite:///{tmp_path / 'log.sqlite3'}"
    if kind == "sqlite":
        store_url = f"sqlite:///{tmp_path / 'read.sqlite3'}"
        clean_url = f"sqlite:///{tmp_path / 'clean.sqlite3'}"
    else:
        server: LocalPostgres = request.getfixturevalue("local_postgres")
        store_url, clean_url = pg_url(server), pg_url(server)
    rng = random.Random(11)
    log = tmp_path / "projector.log"
    async with open_bus(bus_url) as bus:
        await bus.ensure_topics(ALL_TOPICS)
        kills_done = asyncio.Event()
        published = 0

        async def feed() -> None:
            # Events keep arriving while the projector is killed, so kills land
            # mid-batch, not after the work is done.
            nonlocal published
            while not kills_done.is_set() or published < 3:
                await bus.publish(outgoing(chunk(published)))
                published += 1
                await asyncio.sleep(0.02)

        feeder = asyncio.create_task(feed())
        proc = start_projector(bus_url, store_url, log)
        try:
            for kill in range(KILLS):
                await wait_started(proc, log, kill + 1)
                await asyncio.sleep(rng.uniform(0.1, 0.6))
                assert not feeder.done()
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                proc = start_projector(bus_url, store_url, log)
            kills_done.set()
            await feeder
            await wait_started(proc, log, KILLS + 1)
            async with open_store(store_url) as store:
                assert await wait_caught_up(bus=bus, store=store, timeout_s=60), text(log)[-3000:]
        finally:
            kills_done.set()
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        assert proc.returncode == 0, text(log)[-3000:]

        async with open_store(store_url) as store:
            dump = await store.dump()
        assert_history(dump, chunks=published)
        async with open_store(clean_url) as clean:
            await rebuild(bus=bus, store=clean, codec=CODEC)
            assert await clean.dump() == dump
