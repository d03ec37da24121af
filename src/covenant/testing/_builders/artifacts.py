"""Builders for the artifact commands and events (``covenant.events.artifacts``).

Unless told otherwise an artifact's bytes are taken to be its name's UTF-8 text:
the claimed digest, the id and the size then agree with one another, and
``artifact_stored("d1")`` is the artifact ``register_dataset("d1")`` points at.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Unpack

from covenant.events.artifacts import ArtifactRejected, ArtifactStored, RecordArtifact
from covenant.events.refusals import Refusal, RefusalCode
from covenant.testing._builders._meta import Meta, build, refused, sha

MEDIA_TYPE = "application/octet-stream"


def _bytes(name: str, content: bytes | None) -> bytes:
    return name.encode() if content is None else content


def _blob_uri(name: str, blob_uri: str | None) -> str:
    return blob_uri if blob_uri is not None else f"file:///blobs/{name}"


def record_artifact(
    name: str = "weights.bin",
    *,
    content: bytes | None = None,
    claimed_sha256: str | None = None,
    size_bytes: int | None = None,
    media_type: str = MEDIA_TYPE,
    blob_uri: str | None = None,
    git_commit: str | None = None,
    run_config: Mapping[str, str] | None = None,
    **meta: Unpack[Meta],
) -> RecordArtifact:
    """An ``artifact.record`` command, as the gateway writes it after an upload.

    ``claimed_sha256`` (hex, no prefix) and ``size_bytes`` default to those of
    ``content``, itself ``name`` as UTF-8 unless given; pass a wrong one to make a
    claim the artifacts worker must refuse.
    """
    data = _bytes(name, content)
    claimed = claimed_sha256 if claimed_sha256 is not None else sha(data).removeprefix("sha256:")
    return build(
        RecordArtifact,
        meta,
        subject=f"sha256:{claimed}",
        producer="gateway",
        name=name,
        media_type=media_type,
        claimed_sha256=claimed,
        size_bytes=size_bytes if size_bytes is not None else len(data),
        blob_uri=_blob_uri(name, blob_uri),
        git_commit=git_commit,
        run_config=dict(run_config or {}),
    )


def artifact_stored(
    name: str = "weights.bin",
    *,
    content: bytes | None = None,
    artifact_id: str | None = None,
    size_bytes: int | None = None,
    media_type: str = MEDIA_TYPE,
    blob_uri: str | None = None,
    git_commit: str | None = None,
    run_config: Mapping[str, str] | None = None,
    **meta: Unpack[Meta],
) -> ArtifactStored:
    """An ``artifact.stored`` event, as the artifacts worker writes it.

    ``artifact_id`` defaults to ``sha(content)`` and ``size_bytes`` to its length,
    ``content`` being ``name`` as UTF-8 unless given; ``blob_uri`` to
    ``file:///blobs/<name>``. The catalog's workers only accept datasets and models
    whose artifact is stored, so a test folds one of these into their state first.
    """
    data = _bytes(name, content)
    address = artifact_id if artifact_id is not None else sha(data)
    return build(
        ArtifactStored,
        meta,
        subject=address,
        producer="artifacts",
        artifact_id=address,
        name=name,
        media_type=media_type,
        size_bytes=size_bytes if size_bytes is not None else len(data),
        blob_uri=_blob_uri(name, blob_uri),
        git_commit=git_commit,
        run_config=dict(run_config or {}),
    )


def artifact_rejected(
    name: str = "weights.bin",
    *,
    claimed_sha256: str | None = None,
    reason: str | None = None,
    refusals: Sequence[Refusal] | None = None,
    code: RefusalCode = RefusalCode.INVALID,
    **meta: Unpack[Meta],
) -> ArtifactRejected:
    """An ``artifact.rejected`` event; ``reason`` is the refusals' messages joined
    with ``"; "`` as the artifacts worker writes it (see ``dataset_rejected`` for how
    ``reason``, ``refusals`` and ``code`` combine)."""
    claimed = claimed_sha256 if claimed_sha256 is not None else "0" * 64
    texts, why = refused(
        reasons=None if reason is None else [reason],
        refusals=refusals,
        code=code,
        default=f"hash mismatch: the bytes of {name!r} do not hash to sha256:{claimed}",
    )
    return build(
        ArtifactRejected,
        meta,
        subject=f"sha256:{claimed}",
        producer="artifacts",
        name=name,
        claimed_sha256=claimed,
        reason="; ".join(texts),
        refusals=why,
    )
