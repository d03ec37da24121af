"""The worker runtime on both logs: bad input never stops a worker."""

from __future__ import annotations

import asyncio
import io
import os
from typing import Any

import fastavro
from prometheus_client import CollectorRegistry

from covenant.bus import Bus, Outgoing
from covenant.events.artifacts import ArtifactStored
from covenant.events.avro import avro_schema
from covenant.events.catalog import MESSAGE_TYPES
from covenant.events.codec import MAGIC, Codec, schema_fingerprint
from covenant.events.deadletter import DeadLettered
from covenant.events.registry import ModelRegistered, RegisterModel
from covenant.platform import build_workers
from covenant.runtime.service import run_workers, wait_until_drained
from covenant.testing import builders
from covenant.topics import (
    ARTIFACT_EVENTS,
    DATASET_EVENTS,
    DEADLETTER,
    MODEL_COMMANDS,
    MODEL_EVENTS,
)

SHA = "sha256:" + "0" * 64


def stored_artifact() -> ArtifactStored:
    """The registry only registers models whose artifact is stored."""
    return builders.artifact_stored("weights.bin", artifact_id=SHA, actor="tester")


def command(i: int) -> RegisterModel:
    return builders.register_model(f"fam:{i}.0.0", artifact_id=SHA, actor="tester")


def incompatible_schema() -> dict[str, Any]:
    """RegisterModel as a rogue writer changed it: ``version`` became an int, which
    no Avro rule resolves to the reader's string."""
    schema = avro_schema(RegisterModel)
    for field in schema["fields"]:
        if field["name"] == "version":
            field["type"] = "int"
    return schema


def encode_with(schema: dict[str, Any], value: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    buf.write(MAGIC + schema_fingerprint(schema))
    fastavro.schemaless_writer(buf, fastavro.parse_schema(schema), value)
    return buf.getvalue()


async def test_garbage_goes_to_the_dead_letter_topic_and_the_worker_goes_on(bus: Bus) -> None:
    rogue = incompatible_schema()
    # The codec knows the rogue schema (as a reader would after seeing it in a
    # registry), so this exercises resolution failure, not an unknown fingerprint.
    codec = Codec(MESSAGE_TYPES, historical=[rogue])
    await bus.ensure_topics([MODEL_COMMANDS, MODEL_EVENTS, DEADLETTER])
    good = [command(i) for i in range(6)]
    valid = codec.encode(good[0])
    rogue_value = good[1].model_dump(by_alias=True) | {"version": 7}
    bad = {
        "random bytes": os.urandom(64),
        "truncated": valid[: len(valid) // 2],
        "unknown fingerprint": MAGIC + os.urandom(8) + valid[10:],
        "incompatible schema": encode_with(rogue, rogue_value),
        "empty": b"",
        "wrong type for this worker": codec.encode(
            builders.dead_lettered(worker="w", source_topic="t", error_class="E", error="e")
        ),
    }
    records = []
    for i, value in enumerate(bad.values()):
        records.append(Outgoing(MODEL_COMMANDS, b"same-key", codec.encode(good[i])))
        records.append(Outgoing(MODEL_COMMANDS, b"same-key", value))
    await bus.ensure_topics([ARTIFACT_EVENTS, DATASET_EVENTS])
    artifact = stored_artifact()
    await bus.publish([Outgoing(ARTIFACT_EVENTS, SHA.encode(), codec.encode(artifact))])
    await bus.publish(records)

    stop = asyncio.Event()
    registry = CollectorRegistry()
    workers = build_workers(["registry"])
    task = asyncio.create_task(
        run_workers(workers, bus=bus, codec=codec, stop=stop, registry=registry)
    )
    try:
        assert await wait_until_drained(bus, workers, timeout_s=60)
    finally:
        stop.set()
        await task

    events = [codec.decode(r.value) async for r in bus.read([MODEL_EVENTS])]
    assert sorted(e.meta.causation_id for e in events if isinstance(e, ModelRegistered)) == sorted(
        c.meta.event_id for c in good
    )
    letters = [codec.decode(r.value) async for r in bus.read([DEADLETTER])]
    assert len(letters) == len(bad)
    by_original = {
        letter.original: letter for letter in letters if isinstance(letter, DeadLettered)
    }
    for reason, value in bad.items():
        letter = by_original[value]
        assert letter.worker == "registry", reason
        assert letter.source_topic == MODEL_COMMANDS.name
        assert letter.error, reason
    assert "unknown schema fingerprint" in by_original[bad["unknown fingerprint"]].error
    assert "does not decode" in by_original[bad["incompatible schema"]].error
    assert "not a type worker" in by_original[bad["wrong type for this worker"]].error
    assert registry.get_sample_value(
        "covenant_worker_dead_lettered_total", {"worker": "registry"}
    ) == len(bad)
    # Only the commands are consumed in the group; the artifact event is read as a
    # global table (it is no longer an input of the registry's group).
    assert registry.get_sample_value(
        "covenant_worker_processed_total", {"worker": "registry"}
    ) == len(records)


async def test_a_failing_handler_is_retried_then_dead_lettered(bus: Bus) -> None:
    from covenant.runtime.runner import RunnerOptions
    from covenant.runtime.worker import Worker

    attempts: list[str] = []

    async def flaky(message: Any, ctx: Any) -> None:
        attempts.append(message.version)
        if message.version == "1.0.0" and attempts.count("1.0.0") < 2:
            raise ConnectionError("transient")
        if message.version == "2.0.0":
            raise RuntimeError("always broken")

    worker = Worker(
        name="flaky", inputs=(MODEL_COMMANDS,), outputs=(), accepts=(RegisterModel,), handle=flaky
    )
    codec = Codec(MESSAGE_TYPES)
    await bus.ensure_topics([MODEL_COMMANDS, MODEL_EVENTS, DEADLETTER])
    await bus.publish([Outgoing(MODEL_COMMANDS, b"k", codec.encode(command(i))) for i in (1, 2, 3)])
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_workers(
            [worker],
            bus=bus,
            codec=codec,
            stop=stop,
            options=RunnerOptions(max_attempts=3, backoff_s=0.01),
        )
    )
    try:
        assert await wait_until_drained(bus, [worker], timeout_s=60)
    finally:
        stop.set()
        await task
    assert attempts.count("1.0.0") == 2  # failed once, then succeeded
    assert attempts.count("2.0.0") == 3  # bounded: three attempts, then dead-lettered
    assert attempts.count("3.0.0") == 1
    letters = [codec.decode(r.value) async for r in bus.read([DEADLETTER])]
    assert len(letters) == 1
    assert isinstance(letters[0], DeadLettered)
    assert letters[0].attempts == 3
    assert letters[0].error_class == "RuntimeError"
