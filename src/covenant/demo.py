"""``covenant demo``: the platform's main job on embedded defaults.

It publishes a handful of commands — a clean dataset, a PII dataset, a valid model,
a model with a bad version, and one record of garbage bytes — runs the workers
until they have consumed everything, and reads the resulting events back off the
log. Grows into the spec's whole example flow as capabilities land.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from typing import Any

from covenant.bus.protocol import Bus, Outgoing
from covenant.errors import ContractError
from covenant.events.base import Message
from covenant.events.codec import Codec
from covenant.events.datasets import ProvenanceReview, RegisterDataset, Transformation
from covenant.events.registry import ModelLineage, RegisterModel
from covenant.runtime.service import run_workers, wait_until_drained
from covenant.topics import ALL_TOPICS, MODEL_COMMANDS
from covenant.workers import build_workers


def _sha(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def demo_commands() -> list[Message]:
    """The commands the demo publishes, one flow (shared correlation id)."""
    actor, producer = "alice@example.com", "covenant-demo"
    first = RegisterDataset.create(
        subject="dataset:imagenet-mini:v1",
        actor=actor,
        producer=producer,
        dataset_id="imagenet-mini:v1",
        artifact_id=_sha("imagenet-mini bytes"),
        source_refs=["s3://raw/imagenet-mini/2026-11-01"],
        transformations=[
            Transformation(
                name="resize-224",
                code_ref="git@example.com:data/prep.git#4f2a9c1",
                checksum=_sha("resized"),
            )
        ],
        license="CC-BY-4.0",
        provenance_review=ProvenanceReview.PASSED,
    )
    flow = first.meta.correlation_id
    return [
        first,
        RegisterDataset.create(
            subject="dataset:support-chats:v3",
            actor=actor,
            producer=producer,
            correlation_id=flow,
            dataset_id="support-chats:v3",
            artifact_id=_sha("chat bytes"),
            license="proprietary",
            pii_flags=["email", "phone"],
        ),
        RegisterModel.create(
            subject="model:vision-transformer:1.0.0",
            actor="bob@example.com",
            producer=producer,
            correlation_id=flow,
            family="vision-transformer",
            version="1.0.0",
            code_ref="git@example.com:ml/vit.git#9d1e2b7",
            artifact_id=_sha("model weights"),
            metrics={"top1": 0.912, "ece": 0.031},
            lineage=ModelLineage(dataset_refs=["imagenet-mini:v1"]),
        ),
        RegisterModel.create(
            subject="model:vision-transformer:v2",
            actor="bob@example.com",
            producer=producer,
            correlation_id=flow,
            family="vision-transformer",
            version="v2",
            code_ref="git@example.com:ml/vit.git#9d1e2b7",
            artifact_id=_sha("model weights 2"),
        ),
    ]


@dataclass(frozen=True)
class TimelineEntry:
    """One line of the demo's timeline."""

    topic: str
    partition: int
    offset: int
    type: str
    subject: str
    summary: str
    caused_by: str | None

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def summarize(value: dict[str, Any]) -> str:
    """A short human reading of a decoded record."""
    kind = value["meta"]["type"]
    if kind == "dataset.registered":
        reasons = "; ".join(value["blockReasons"])
        return f"clearance={value['clearance']}" + (f" ({reasons})" if reasons else "")
    if kind in ("dataset.rejected", "model.rejected"):
        return "rejected: " + "; ".join(value["reasons"])
    if kind == "model.registered":
        entry = value["entry"]
        return f"{entry['modelId']} status={entry['status']} artifact={entry['artifactId'][:19]}…"
    if kind == "record.dead_lettered":
        return f"{value['errorClass']}: {value['error'][:80]}"
    return ""


async def run_demo(bus: Bus, codec: Codec) -> list[TimelineEntry]:
    """Publish, process, read back; returns the timeline of the whole log."""
    await bus.ensure_topics(ALL_TOPICS)
    commands = demo_commands()
    await bus.publish(
        [Outgoing(c.TOPIC, c.meta.subject.encode(), codec.encode(c)) for c in commands]
    )
    # A record no schema knows: the registry worker dead-letters it and goes on.
    await bus.publish([Outgoing(MODEL_COMMANDS, b"garbage", b"\xc3\x01not-avro-at-all")])
    stop = asyncio.Event()
    workers = build_workers()
    running = asyncio.create_task(run_workers(workers, bus=bus, codec=codec, stop=stop))
    try:
        await wait_until_drained(bus, workers, timeout_s=60)
    finally:
        stop.set()
        await running
    timeline: list[tuple[float, TimelineEntry]] = []
    async for rec in bus.read(ALL_TOPICS):
        try:
            _, value = codec.decode_dict(rec.value)
        except ContractError as exc:  # the garbage stays on its topic, visible as such
            entry = TimelineEntry(
                rec.topic, rec.partition, rec.offset, "(undecodable)", "", str(exc)[:80], None
            )
            timeline.append((rec.timestamp_ms / 1000, entry))
            continue
        meta = value["meta"]
        entry = TimelineEntry(
            rec.topic,
            rec.partition,
            rec.offset,
            meta["type"],
            meta["subject"],
            summarize(value),
            meta["causationId"],
        )
        timeline.append((meta["occurredAt"].timestamp(), entry))
    return [entry for _, entry in sorted(timeline, key=lambda pair: pair[0])]
