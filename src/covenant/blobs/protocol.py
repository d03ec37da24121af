"""The artifact-store port: immutable bytes, addressed by their SHA-256.

Two implementations live beside this file: ``folder`` (embedded, the default) and
``s3`` (production). Both pass ``tests/conformance/test_blobs.py``.

There is deliberately no delete and no overwrite: an artifact id names exactly one
sequence of bytes forever, which is what lets an audit trail refer to it.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass
from typing import BinaryIO, Protocol, Self

from covenant.blobs.errors import InvalidArtifactIdError

_ARTIFACT_ID = re.compile(r"sha256:([0-9a-f]{64})")
_HEX = re.compile(r"[0-9a-f]{64}")

BlobSource = AsyncIterable[bytes] | BinaryIO
"""What ``put`` reads: an async iterable of byte chunks (an upload, a network
stream) or a binary file object opened for reading (read in a worker thread)."""

Progress = Callable[[int], None]
"""Called on the event loop with the number of bytes received so far."""


def parse_artifact_id(artifact_id: str) -> str:
    """The hex digest inside ``sha256:<hex>``.

    Every store calls this before it builds a path or a key, so only 64 lowercase
    hex digits ever reach storage.

    Raises:
        InvalidArtifactIdError: for anything else (``../../etc/passwd``,
            ``sha256:../x``, upper case, a bare digest).
    """
    match = _ARTIFACT_ID.fullmatch(artifact_id) if isinstance(artifact_id, str) else None
    if match is None:
        raise InvalidArtifactIdError(str(artifact_id))
    return match.group(1)


def parse_sha256(digest: str) -> str:
    """``digest`` itself when it is 64 lowercase hex digits (an expected checksum).

    Raises:
        InvalidArtifactIdError: otherwise, naming ``sha256:<digest>``.
    """
    if not isinstance(digest, str) or _HEX.fullmatch(digest) is None:
        raise InvalidArtifactIdError(f"sha256:{digest}")
    return digest


@dataclass(frozen=True, slots=True)
class StoredBlob:
    """One stored blob.

    Attributes:
        artifact_id: the content address, ``sha256:<hex>``.
        sha256: the hex digest alone.
        size: length in bytes.
        media_type: what the first ``put`` of these bytes said they are.
        uri: where the bytes live (``file:///…/sha256/ab/<hex>``,
            ``s3://bucket/prefix/sha256/<hex>``), for people and other tools.
        deduplicated: True when ``put`` found the bytes already stored and wrote
            nothing; always False from ``stat``.
    """

    artifact_id: str
    sha256: str
    size: int
    media_type: str
    uri: str
    deduplicated: bool = False


class BlobStore(Protocol):
    """Content-addressed, immutable blob storage.

    Use it as an async context manager (implementations may refuse work outside
    one); closing twice is harmless. Every method that takes an artifact id
    validates it with ``parse_artifact_id`` before touching storage.
    """

    async def __aenter__(self) -> Self:
        """Open connections the store needs."""
        ...

    async def __aexit__(self, *exc: object) -> None:
        """Release them; same as ``aclose``."""
        ...

    async def aclose(self) -> None:
        """Release everything; idempotent."""
        ...

    async def put(
        self,
        *,
        source: BlobSource,
        media_type: str,
        expected_sha256: str | None = None,
        max_bytes: int | None = None,
        progress: Progress | None = None,
    ) -> StoredBlob:
        """Store the bytes of ``source``, reading them exactly once.

        The bytes are hashed while they are written to a temporary location. Only
        when the stream has ended, its digest equals ``expected_sha256`` (when
        given) and it stayed within ``max_bytes`` (when given) do they become
        visible at ``sha256:<hex>``, atomically. Otherwise the temporary data is
        removed and the error raised: a failed, cut-off or mismatched upload
        leaves nothing that looks stored, and nothing that ``stat`` sees.

        Bytes already stored are not written again: the existing blob comes back
        with ``deduplicated=True`` (keeping its first media type).

        Args:
            source: the bytes; an exception it raises propagates unchanged.
            media_type: e.g. ``application/octet-stream``; recorded on first put.
            expected_sha256: hex digest the caller knows the bytes must have.
            max_bytes: refuse streams longer than this.
            progress: called on the event loop with bytes received so far; the
                last call reports the total.

        Raises:
            ChecksumMismatchError: digest differs from ``expected_sha256``.
            TooLargeError: more than ``max_bytes`` arrived.
            InvalidArtifactIdError: ``expected_sha256`` is not 64 lowercase hex.
            BlobStorageError: the backend failed (``retriable`` says whether to retry).
        """
        ...

    async def open(self, artifact_id: str) -> AsyncIterator[bytes]:
        """Stream the stored bytes in chunks.

        Raises:
            InvalidArtifactIdError: before any storage access.
            BlobNotFoundError: nothing is stored there (raised by this await,
                not by the first chunk).
        """
        ...

    async def stat(self, artifact_id: str) -> StoredBlob | None:
        """The stored blob, or None when there is none."""
        ...

    async def exists(self, artifact_id: str) -> bool:
        """Whether bytes are stored at ``artifact_id``."""
        ...

    async def verify(self, artifact_id: str) -> str:
        """Re-read and re-hash the stored bytes; return their hex digest.

        A result that differs from the id's digest means the storage was
        corrupted or tampered with; the artifacts worker checks exactly this.

        Raises:
            BlobNotFoundError: nothing is stored there.
        """
        ...
