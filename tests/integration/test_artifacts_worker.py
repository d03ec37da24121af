"""The artifact-hashing worker on both logs, against a real folder blob store."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
from pathlib import Path

from covenant.blobs import FolderBlobStore, StoredBlob
from covenant.bus import Bus, Outgoing
from covenant.catalog.workers import make_artifacts_worker
from covenant.events.artifacts import ArtifactRejected, ArtifactStored, RecordArtifact
from covenant.events.base import Message
from covenant.events.contract import default_codec
from covenant.runtime.service import run_workers, wait_until_drained
from covenant.testing import builders
from covenant.topics import ARTIFACT_COMMANDS, ARTIFACT_EVENTS, DEADLETTER


def record(
    name: str, claimed_sha256: str, size: int, *, uri: str = "file:///elsewhere"
) -> RecordArtifact:
    return builders.record_artifact(
        name,
        claimed_sha256=claimed_sha256,
        size_bytes=size,
        media_type="application/x-pytorch",
        blob_uri=uri,
        git_commit="0123abc",
        run_config={"lr": "0.1"},
        actor="trainer",
    )


async def put(store: FolderBlobStore, data: bytes) -> StoredBlob:
    return await store.put(source=io.BytesIO(data), media_type="application/x-pytorch")


def tamper(root: Path, stored: StoredBlob) -> None:
    """Change the stored bytes behind the store's back (same size), as a disk
    fault or an intruder would."""
    path = root / "sha256" / stored.sha256[:2] / stored.sha256
    path.chmod(0o644)
    path.write_bytes(bytes(b ^ 0xFF for b in path.read_bytes()))


async def test_the_worker_records_proven_claims_and_rejects_the_rest(
    bus: Bus, tmp_path: Path
) -> None:
    codec = default_codec()
    root = tmp_path / "blobs"
    async with FolderBlobStore(root) as blobs:
        good = await put(blobs, os.urandom(3 * 1024 * 1024 + 5))
        other = await put(blobs, b"other bytes")
        tampered = await put(blobs, b"bytes someone will change")
        tamper(root, tampered)
        never_stored = hashlib.sha256(b"never uploaded").hexdigest()
        commands = {
            "good": record("models/resnet.pt", good.sha256, good.size, uri=good.uri),
            "wrong hash": record("models/a.pt", never_stored, good.size),
            "wrong size": record("models/b.pt", other.sha256, other.size + 1),
            "missing": record("models/c.pt", "0" * 64, 10),
            "traversal": record("../../etc/passwd", other.sha256, other.size),
            "absolute": record("/etc/passwd", other.sha256, other.size),
            "control": record("models/\x1b[2Jevil.pt", other.sha256, other.size),
            "malformed": record("models/d.pt", "not-a-digest", 1),
            "tampered": record("models/e.pt", tampered.sha256, tampered.size),
        }
        redelivered = codec.encode(commands["good"])
        await bus.ensure_topics([ARTIFACT_COMMANDS, ARTIFACT_EVENTS, DEADLETTER])
        await bus.publish(
            [
                *(
                    Outgoing(ARTIFACT_COMMANDS, c.meta.subject.encode(), codec.encode(c))
                    for c in commands.values()
                ),
                Outgoing(ARTIFACT_COMMANDS, commands["good"].meta.subject.encode(), redelivered),
            ]
        )
        worker = make_artifacts_worker(blobs)
        stop = asyncio.Event()
        task = asyncio.create_task(run_workers([worker], bus=bus, codec=codec, stop=stop))
        try:
            assert await wait_until_drained(bus, [worker], timeout_s=60)
        finally:
            stop.set()
            await task

    events: list[Message] = [codec.decode(r.value) async for r in bus.read([ARTIFACT_EVENTS])]
    by_cause: dict[str, list[Message]] = {}
    for event in events:
        assert event.meta.causation_id is not None
        by_cause.setdefault(event.meta.causation_id, []).append(event)
    decided = {case: by_cause[c.meta.event_id] for case, c in commands.items()}
    assert [r async for r in bus.read([DEADLETTER])] == []
    assert len(events) == len(commands) + 1

    # The redelivered command was verified again and reached the same decision.
    first, second = decided["good"]
    for stored in (first, second):
        assert isinstance(stored, ArtifactStored)
        assert stored.artifact_id == good.artifact_id
        assert stored.name == "models/resnet.pt"
        assert stored.media_type == "application/x-pytorch"
        assert stored.size_bytes == good.size
        assert stored.blob_uri == good.uri
        assert stored.git_commit == "0123abc"
        assert stored.run_config == {"lr": "0.1"}
        assert stored.meta.subject == commands["good"].meta.subject
        assert stored.meta.correlation_id == commands["good"].meta.correlation_id
    assert first.model_dump(exclude={"meta"}) == second.model_dump(exclude={"meta"})

    expected_reason = {
        "wrong hash": "missing: no blob is stored at",
        "wrong size": f"size mismatch: sha256:{other.sha256} holds {other.size} bytes",
        "missing": "missing:",
        "traversal": "invalid name:",
        "absolute": "is an absolute path",
        "control": "control",
        "malformed": "invalid hash:",
        "tampered": "hash mismatch:",
    }
    for case, fragment in expected_reason.items():
        (rejected,) = decided[case]
        assert isinstance(rejected, ArtifactRejected), case
        assert fragment in rejected.reason, (case, rejected.reason)
        assert rejected.name == commands[case].name
        assert rejected.claimed_sha256 == commands[case].claimed_sha256
    traversal = decided["traversal"][0]
    assert isinstance(traversal, ArtifactRejected)
    assert "'..'" in traversal.reason
