"""``covenant demo``: the platform's main job, on embedded defaults.

It walks steps 1-4 of the spec's example flow with nothing but Python:
store the bytes of two datasets and of a model (content-addressed, verified by
the artifact worker), register the datasets (one is flagged for PII and comes out
blocked), register a model with lineage, try two bad registrations (an invalid
version and a duplicate) and one record of garbage bytes; then train a model for
real (``covenant.cli._demo_training``: cleared, allocated, checkpointed, preempted,
resumed, registered, re-run identically, charged). Then it shows the models'
lineage from the read models, replays the log into a fresh store and checks the
rebuilt read models are identical, and verifies the whole log against the audit
worker's signed Merkle checkpoints.
"""

from __future__ import annotations

import asyncio
import io
import json
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from covenant.audit.results import VerifyResult
from covenant.audit.verify import verify_live
from covenant.audit.worker import AuditOptions
from covenant.bus.protocol import Outgoing
from covenant.cli._demo_example import DemoError, check_ready, write_pools
from covenant.cli._demo_promotion import PromotionResult, run_promotion
from covenant.cli._demo_promotion import prepare as prepare_promotion
from covenant.cli._demo_serving import ServingResult, run_serving
from covenant.cli._demo_summaries import summarize
from covenant.cli._demo_training import TrainingResult, run_training
from covenant.errors import ContractError
from covenant.events.artifacts import RecordArtifact
from covenant.events.base import Message
from covenant.events.datasets import ProvenanceReview, RegisterDataset, Transformation
from covenant.events.registry import ModelLineage, RegisterModel
from covenant.platform import (
    WORKER_NAMES,
    Platform,
    Resources,
    audit_part,
    build_workers,
    open_platform,
    projector_part,
    promotion_clock_part,
    run_parts,
    runner_part,
    workers_part,
)
from covenant.runtime.service import wait_until_drained
from covenant.settings import Settings
from covenant.signing.config import open_signer
from covenant.store import open_store
from covenant.store.projector import rebuild, wait_caught_up
from covenant.topics import ALL_TOPICS, MODEL_COMMANDS, TopicKind
from covenant.training.runner import RunnerSettings

ACTOR = "alice@example.com"
# Half the answered rows sampled, windows of 200: the drift step's shift shows within
# seconds of traffic (production defaults: a tenth, 5,000 rows).
_DRIFT = {
    "COVENANT_DRIFT_SAMPLE_RATE": "0.5",
    "COVENANT_DRIFT_WINDOW_ROWS": "200",
    # two drifted windows in a row: the canaries score four or five clean windows
    # before the shift, and against this 360-row reference 7-8 % of clean windows
    # false-alarm (bench/drift_false_alarms.py: pixel p63 is rarer in it than in the
    # clients' images)
    "COVENANT_DRIFT_ALERT_WINDOWS": "2",
}
PRODUCER = "covenant-demo"
M = TypeVar("M", bound=Message)


@dataclass(frozen=True)
class TimelineEntry:
    """One record of the log, read back for people."""

    topic: str
    partition: int
    offset: int
    type: str
    subject: str
    summary: str
    caused_by: str | None
    event_id: str | None = None


@dataclass
class DemoResult:
    """What the demo did, for the terminal and for ``--json``."""

    log: str
    timeline: list[TimelineEntry] = field(default_factory=list)
    lineage: dict[str, Any] = field(default_factory=dict)
    replay_identical: bool = False
    rows_rebuilt: int = 0
    audit_ok: bool = False
    audit_records: int = 0
    audit_checkpoints: int = 0
    audit_root: str = ""
    audit_key: str = ""
    training: TrainingResult | None = None
    promotion: PromotionResult | None = None
    serving: ServingResult | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fake_bytes(seed: int, size: int) -> bytes:
    """Deterministic stand-in data (no downloads): CSV rows or weight bytes."""
    rng = random.Random(seed)
    rows = (f"{rng.random():.6f},{rng.random():.6f},{rng.randint(0, 9)}\n" for _ in range(size))
    return ("x1,x2,label\n" + "".join(rows)).encode()


def _ask(cls: type[M], subject: str, *, actor: str = ACTOR, **body: Any) -> M:
    """A command of the demo's people, as the demo's producer writes it."""
    command: M = cls.create(subject=subject, actor=actor, producer=PRODUCER, **body)
    return command


async def _store(
    platform: Platform, name: str, *, seed: int, rows: int, media: str
) -> RecordArtifact:
    """Generate, store and announce bytes; the run config records how they were made."""
    data = _fake_bytes(seed, rows)
    blob = await platform.blobs.put(source=io.BytesIO(data), media_type=media)
    command: RecordArtifact = _ask(
        RecordArtifact,
        blob.artifact_id,
        name=name,
        media_type=media,
        claimed_sha256=blob.sha256,
        size_bytes=blob.size,
        blob_uri=blob.uri,
        git_commit="9d1e2b7",
        run_config={"seed": str(seed), "rows": str(rows)},
    )
    return command


async def _settle(platform: Platform) -> None:
    # The notary is left out: it holds the HSM session, and this scenario signs nothing.
    names = [name for name in WORKER_NAMES if name != "notary"]
    workers = build_workers(names, resources=Resources(blobs=platform.blobs))
    await wait_until_drained(platform.bus, workers, timeout_s=60)


async def _scenario(platform: Platform) -> None:
    """The steps, each waiting for the workers so later steps see earlier facts."""
    clean = await _store(platform, "imagenet-mini.csv", seed=1, rows=400, media="text/csv")
    chats = await _store(platform, "support-chats.csv", seed=2, rows=300, media="text/csv")
    weights = await _store(
        platform, "vit-1.0.0.safetensors", seed=3, rows=800, media="application/octet-stream"
    )
    await platform.publish(clean, chats, weights)
    await _settle(platform)
    sha = "sha256:{}".format
    await platform.publish(
        _ask(
            RegisterDataset,
            "dataset:imagenet-mini:v1",
            dataset_id="imagenet-mini:v1",
            artifact_id=sha(clean.claimed_sha256),
            source_refs=["s3://raw/imagenet-mini/2026-11-01"],
            transformations=[
                Transformation(
                    name="resize-224",
                    code_ref="git@example.com:data/prep.git#4f2a9c1",
                    checksum=sha(clean.claimed_sha256),
                )
            ],
            license="CC-BY-4.0",
            provenance_review=ProvenanceReview.PASSED,
        ),
        _ask(
            RegisterDataset,
            "dataset:support-chats:v3",
            dataset_id="support-chats:v3",
            artifact_id=sha(chats.claimed_sha256),
            license="proprietary",
            pii_flags=["email", "phone"],
        ),
    )
    await _settle(platform)

    def model(version: str) -> Message:
        message: Message = _ask(
            RegisterModel,
            f"model:vision-transformer:{version}",
            actor="bob@example.com",
            family="vision-transformer",
            version=version,
            code_ref="git@example.com:ml/vit.git#9d1e2b7",
            artifact_id=sha(weights.claimed_sha256),
            metrics={"top1": 0.912, "ece": 0.031},
            lineage=ModelLineage(dataset_refs=["imagenet-mini:v1"]),
            provenance={"image": "ghcr.io/example/train@sha256:0c1d…", "seed": "42"},
        )
        return message

    await platform.publish(model("1.0.0"), model("v2"))
    await _settle(platform)
    await platform.publish(model("1.0.0"))  # the same version again: immutable
    # A record no schema knows: the registry worker dead-letters it and goes on.
    await platform.bus.publish([Outgoing(MODEL_COMMANDS, b"garbage", b"\xc3\x01not-avro")])
    await _settle(platform)


async def _timeline(platform: Platform) -> list[TimelineEntry]:
    entries: list[tuple[float, TimelineEntry]] = []
    readable = [t for t in ALL_TOPICS if t.kind is not TopicKind.EXPORT]
    async for rec in platform.bus.read(readable):
        try:
            _, value = platform.codec.decode_dict(rec.value)
        except ContractError as exc:  # the garbage stays on its topic, visible as such
            entry = TimelineEntry(
                rec.topic, rec.partition, rec.offset, "(undecodable)", "", str(exc)[:60], None
            )
            entries.append((rec.timestamp_ms / 1000, entry))
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
            meta["eventId"],
        )
        entries.append((meta["occurredAt"].timestamp(), entry))
    return [entry for _, entry in sorted(entries, key=lambda pair: pair[0])]


async def _audited(platform: Platform, public_key: bytes) -> VerifyResult:
    """Verify the log until a signed checkpoint covers every record (or 30 s)."""
    audited = [t for t in ALL_TOPICS if t.kind is not TopicKind.AUDIT]
    total = sum([sum((await platform.bus.end_offsets(t)).values()) for t in audited])
    result = await verify_live(platform.bus, public_key_pem=public_key, codec=platform.codec)
    for _ in range(150):
        if not result.ok or (result.pending == 0 and result.records >= total):
            break
        await asyncio.sleep(0.2)
        result = await verify_live(platform.bus, public_key_pem=public_key, codec=platform.codec)
    return result


async def run_demo(home: Path, progress: Callable[[str], None] = lambda _: None) -> DemoResult:
    """Run the scenario on embedded defaults under ``home`` (an empty or new folder),
    telling ``progress`` what it is doing."""
    if (home / "log.sqlite3").exists():
        raise DemoError(f"{home} holds an earlier demo's log; give an empty or new folder")
    example = check_ready()
    pools = write_pools(home)
    secured = await asyncio.to_thread(prepare_promotion, home)  # the HSM, approvers, policies
    settings = Settings.from_env(
        {"COVENANT_HOME": str(home), "COVENANT_POOLS": str(pools), **secured, **_DRIFT}
    )
    result = DemoResult(log=settings.bus_url)
    async with open_signer(settings) as signer:  # the HSM key: audit and manifests alike
        audit_key, audit_key_id = signer.public_key_pem(), signer.key_id
    async with open_platform(settings) as platform:
        stop = asyncio.Event()
        parts = [
            workers_part(),
            projector_part,
            audit_part(AuditOptions(checkpoint_interval_s=0.2)),
            runner_part(RunnerSettings(interval_s=0.1)),
            promotion_clock_part,
        ]
        running = asyncio.create_task(run_parts(platform, parts, stop))
        try:
            progress("registering data and a model, and trying bad requests…")
            await _scenario(platform)
            result.training = await run_training(platform, example, progress)
            result.promotion = await run_promotion(
                platform, example, result.training.model_id, audit_key, progress
            )
            result.serving = await run_serving(
                platform,
                result.training.model_id,
                "vision-transformer:1.0.0",
                audit_key,
                example,
                result.training.code_ref,
                progress,
            )
            progress("waiting for the read models and the audit trail…")
            await wait_caught_up(bus=platform.bus, store=platform.store, timeout_s=60)
            audit = await _audited(platform, audit_key)
        finally:
            stop.set()
            await running
        result.audit_ok = audit.ok
        result.audit_records = audit.records
        result.audit_checkpoints = audit.checkpoints
        result.audit_root = (audit.root_hash or b"").hex()
        result.audit_key = audit_key_id
        upstream = await platform.store.upstream(model_id="vision-transformer:1.0.0")
        if upstream is not None:
            result.lineage = json.loads(json.dumps(asdict(upstream), default=str))
        trained = await platform.store.upstream(model_id=result.training.model_id)
        if trained is not None:
            result.training.lineage = json.loads(json.dumps(asdict(trained), default=str))
        result.timeline = await _timeline(platform)
        live = await platform.store.dump()
        async with open_store(f"sqlite:///{home / 'replayed.sqlite3'}") as replayed:
            await rebuild(bus=platform.bus, store=replayed, codec=platform.codec)
            again = await replayed.dump()
        result.replay_identical = live == again
        result.rows_rebuilt = sum(len(rows) for rows in again.values())
    return result
