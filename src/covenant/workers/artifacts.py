"""Artifact recording: turns ``artifact.record`` into ``artifact.stored`` or
``artifact.rejected``.

An uploader writes bytes to the blob store and then claims, in a command, what it
wrote (digest and size). The claim is not trusted: the worker re-hashes what is
stored at ``sha256:<claimed>`` and records the artifact only when the bytes there
hash to the claim and have the claimed size. Stored bytes never change, so a
redelivered command re-verifies and reaches the same decision: the worker is
idempotent without keeping any state of its own.

``artifact.stored`` carries the store's own URI for the blob, not the one in the
command: the worker vouches only for what it verified, where it verified it.
"""

from __future__ import annotations

import re
import unicodedata

from covenant.blobs.protocol import BlobStore, StoredBlob
from covenant.events.artifacts import ArtifactRejected, ArtifactStored, RecordArtifact
from covenant.events.base import Message
from covenant.runtime.worker import Context, Worker
from covenant.topics import ARTIFACT_COMMANDS, ARTIFACT_EVENTS

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_DRIVE = re.compile(r"[A-Za-z]:")
MAX_NAME_LENGTH = 1024


def name_problems(name: str) -> list[str]:
    """Why ``name`` cannot name an artifact; empty when it can.

    Names become paths when artifacts are exported or served, so anything that
    could climb out of a folder (``..``), start at a root (``/x``, ``C:\\x``) or
    hide in a terminal (control characters) is refused here, once, for every
    consumer.
    """
    problems = []
    if not name.strip():
        problems.append("name is empty")
    if len(name) > MAX_NAME_LENGTH:
        problems.append(f"name is longer than {MAX_NAME_LENGTH} characters")
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in name):
        problems.append("name contains control or invisible formatting characters")
    absolute = name.startswith(("/", "\\")) or _DRIVE.match(name) is not None
    if absolute:
        problems.append(f"name {name!r} is an absolute path; give a relative name")
    segments = re.split(r"[/\\]", name)
    if ".." in segments:
        problems.append(f"name {name!r} climbs out of its folder with '..'")
    elif not absolute and name.strip() and any(s in ("", ".") for s in segments):
        problems.append(f"name {name!r} has empty or '.' path segments")
    return problems


async def check_claim(
    command: RecordArtifact, blobs: BlobStore
) -> tuple[StoredBlob | None, list[str]]:
    """The stored blob that proves the claim, or why the claim cannot be recorded.

    Returns ``(blob, [])`` when the bytes at ``sha256:<claimed>`` have the claimed
    size and re-hash to the claim, else ``(None, reasons)``. The size is compared
    first (a metadata lookup), the digest only when it matches, so an obviously
    wrong claim costs no re-read of the bytes.
    """
    reasons = [f"invalid name: {p}" for p in name_problems(command.name)]
    if _SHA256_HEX.fullmatch(command.claimed_sha256) is None:
        reasons.append(
            f"invalid hash: claimed sha256 {command.claimed_sha256!r} is not 64 lowercase hex"
        )
        return None, reasons
    artifact_id = f"sha256:{command.claimed_sha256}"
    stored = await blobs.stat(artifact_id)
    if stored is None:
        return None, [*reasons, f"missing: no blob is stored at {artifact_id}"]
    if stored.size != command.size_bytes:
        reasons.append(
            f"size mismatch: {artifact_id} holds {stored.size} bytes, "
            f"the claim says {command.size_bytes}"
        )
        return None, reasons
    actual = await blobs.verify(artifact_id)
    if actual != command.claimed_sha256:
        reasons.append(
            f"hash mismatch: the bytes stored at {artifact_id} hash to sha256:{actual}; "
            "the store is corrupt or was tampered with"
        )
    return (None, reasons) if reasons else (stored, [])


def make_artifacts_worker(blobs: BlobStore) -> Worker:
    """The artifact-hashing worker, verifying claims against ``blobs``.

    A factory rather than a module constant because the worker needs the store,
    which configuration picks (``open_blobs``) and the caller opens and closes.
    Store failures propagate: retriable ones are retried by the runtime, others
    dead-lettered, and neither is mistaken for a rejection of the artifact.
    """

    async def handle(message: Message, ctx: Context) -> None:
        assert isinstance(message, RecordArtifact)  # the runtime checks ``accepts``
        stored, reasons = await check_claim(message, blobs)
        if stored is None:
            ctx.emit(
                ArtifactRejected,
                name=message.name,
                claimed_sha256=message.claimed_sha256,
                reason="; ".join(reasons),
            )
            return
        ctx.emit(
            ArtifactStored,
            artifact_id=stored.artifact_id,
            name=message.name,
            media_type=message.media_type,
            size_bytes=stored.size,
            blob_uri=stored.uri,
            git_commit=message.git_commit,
            run_config=message.run_config,
        )

    return Worker(
        name="artifacts",
        inputs=(ARTIFACT_COMMANDS,),
        outputs=(ARTIFACT_EVENTS,),
        accepts=(RecordArtifact,),
        handle=handle,
        description="re-hashes stored bytes and records artifacts whose claims they prove",
    )
