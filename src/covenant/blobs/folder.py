"""The embedded artifact store: a content-addressed folder on the local disk.

Layout under ``root``::

    sha256/ab/<hex>     the bytes, read-only (0444), named by their digest
    media/ab/<hex>      the media type the first put gave them
    tmp/<uuid>.part     uploads in progress (same filesystem, so publishing is a rename)

A put streams into ``tmp/``, is fsynced, and only then renamed (``os.replace``,
atomic on POSIX) to its address, after which the directory is fsynced too. So a
crash at any instant leaves either the whole blob at its address or nothing there;
leftovers in ``tmp/`` are never visible as blobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Self

from covenant.blobs._stream import (
    CHUNK,
    HashingSink,
    feed,
    hash_only,
    open_for_streaming,
    write_all,
)
from covenant.blobs.errors import (
    BlobError,
    BlobNotFoundError,
    ChecksumMismatchError,
    from_os_error,
)
from covenant.blobs.protocol import (
    BlobSource,
    Progress,
    StoredBlob,
    parse_artifact_id,
    parse_sha256,
)

DEFAULT_MEDIA_TYPE = "application/octet-stream"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FolderBlobStore:
    """Content-addressed blobs in a local folder (see the module doc for the layout).

    The constructor touches nothing; folders are created by the first put.

    Args:
        root: the store's folder; ``tmp/`` inside it must be on the same
            filesystem as the blobs, which it is by construction.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root).absolute()
        self._closed = False

    def __repr__(self) -> str:
        return f"FolderBlobStore({str(self.root)!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Mark the store closed; there is nothing to release, so this is idempotent."""
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise BlobError("the blob folder store is closed")

    def _blob_path(self, hex_digest: str) -> Path:
        return self.root / "sha256" / hex_digest[:2] / hex_digest

    def _media_path(self, hex_digest: str) -> Path:
        return self.root / "media" / hex_digest[:2] / hex_digest

    def _stored(self, hex_digest: str, *, deduplicated: bool = False) -> StoredBlob | None:
        """Blocking: the blob at ``hex_digest`` (already validated), or None."""
        path = self._blob_path(hex_digest)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return None
        try:
            media_type = self._media_path(hex_digest).read_text(encoding="utf-8")
        except FileNotFoundError:
            media_type = DEFAULT_MEDIA_TYPE
        return StoredBlob(
            artifact_id=f"sha256:{hex_digest}",
            sha256=hex_digest,
            size=size,
            media_type=media_type,
            uri=path.as_uri(),
            deduplicated=deduplicated,
        )

    async def put(
        self,
        *,
        source: BlobSource,
        media_type: str,
        expected_sha256: str | None = None,
        max_bytes: int | None = None,
        progress: Progress | None = None,
    ) -> StoredBlob:
        """Stream ``source`` into ``tmp/``, then publish it at its address.

        See ``BlobStore.put`` for the promise. When ``expected_sha256`` names bytes
        already stored, the source is only hashed (to keep the checksum promise),
        never written.
        """
        self._check_open()
        expected = parse_sha256(expected_sha256) if expected_sha256 is not None else None
        if expected is not None:
            try:
                existing = await asyncio.to_thread(self._stored, expected, deduplicated=True)
            except OSError as exc:
                raise from_os_error("put", exc) from exc
            if existing is not None:
                return await hash_only(source, existing, max_bytes=max_bytes, progress=progress)
        tmp_dir = self.root / "tmp"
        tmp = tmp_dir / f"{uuid.uuid4().hex}.part"
        try:
            fd = await asyncio.to_thread(self._create_temp, tmp)
        except OSError as exc:
            raise from_os_error("put", exc) from exc
        sink = HashingSink(fd=fd, max_bytes=max_bytes)
        try:
            try:
                await feed(sink, source, progress=progress)
                digest = await asyncio.to_thread(sink.finish)
            finally:
                # In a thread: after a cancellation a worker may still be reading
                # the source, and close waits for it without blocking the loop.
                await asyncio.to_thread(sink.close)
            if expected is not None and digest != expected:
                raise ChecksumMismatchError(expected=expected, actual=digest, size=sink.size)
        except BaseException:
            await asyncio.to_thread(self._discard, fd, tmp)
            raise
        try:
            return await asyncio.to_thread(self._publish, fd, tmp, digest, media_type)
        except OSError as exc:
            raise from_os_error("put", exc) from exc

    def _create_temp(self, tmp: Path) -> int:
        tmp.parent.mkdir(parents=True, exist_ok=True)
        return open_for_streaming(tmp)

    def _discard(self, fd: int, tmp: Path) -> None:
        """Close and remove an unpublished upload; best effort, never masks the cause."""
        with contextlib.suppress(OSError):
            os.close(fd)
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)

    def _publish(self, fd: int, tmp: Path, digest: str, media_type: str) -> StoredBlob:
        """Blocking: make the fully written ``tmp`` the blob ``digest``.

        Takes ownership of ``fd``: it is closed (and ``tmp`` removed) whatever happens.
        """
        try:
            try:
                os.fsync(fd)
                os.fchmod(fd, 0o444)
            finally:
                os.close(fd)
            existing = self._stored(digest, deduplicated=True)
            if existing is not None:
                return existing  # the same bytes are there already: write nothing
            self._write_media_type(digest, media_type)
            final = self._blob_path(digest)
            self._make_dir(final.parent)
            os.replace(tmp, final)
            _fsync_dir(final.parent)
        finally:
            tmp.unlink(missing_ok=True)
        stored = self._stored(digest)
        assert stored is not None
        return stored

    def _write_media_type(self, digest: str, media_type: str) -> None:
        path = self._media_path(digest)
        self._make_dir(path.parent)
        tmp = self.root / "tmp" / f"{uuid.uuid4().hex}.media"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        try:
            write_all(fd, media_type.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def _make_dir(self, path: Path) -> None:
        """Create ``path`` (and parents), fsyncing the parent of each new folder so the
        rename that follows survives a crash."""
        if path.is_dir():
            return
        self._make_dir(path.parent)
        try:
            path.mkdir()
        except FileExistsError:
            return
        _fsync_dir(path.parent)

    async def stat(self, artifact_id: str) -> StoredBlob | None:
        """The stored blob, or None; see ``BlobStore.stat``."""
        self._check_open()
        digest = parse_artifact_id(artifact_id)
        try:
            return await asyncio.to_thread(self._stored, digest)
        except OSError as exc:
            raise from_os_error("stat", exc) from exc

    async def exists(self, artifact_id: str) -> bool:
        """Whether bytes are stored at ``artifact_id``."""
        return await self.stat(artifact_id) is not None

    async def open(self, artifact_id: str) -> AsyncIterator[bytes]:
        """Stream the stored bytes; see ``BlobStore.open``."""
        self._check_open()
        if await self.stat(artifact_id) is None:
            raise BlobNotFoundError(artifact_id)
        # Blobs are never deleted, so the file found now is there when iteration
        # opens it; opening lazily means an iterator never started leaks no handle.
        return _read_chunks(self._blob_path(parse_artifact_id(artifact_id)))

    async def verify(self, artifact_id: str) -> str:
        """Re-hash the stored bytes in a worker thread; see ``BlobStore.verify``."""
        self._check_open()
        digest = parse_artifact_id(artifact_id)
        path = self._blob_path(digest)

        def rehash() -> str:
            hasher = hashlib.sha256()
            buffer = bytearray(CHUNK)
            view = memoryview(buffer)
            with path.open("rb", buffering=0) as file:
                while n := file.readinto(buffer):
                    hasher.update(view[:n])
            return hasher.hexdigest()

        try:
            return await asyncio.to_thread(rehash)
        except FileNotFoundError:
            raise BlobNotFoundError(artifact_id) from None
        except OSError as exc:
            raise from_os_error("verify", exc) from exc


async def _read_chunks(path: Path) -> AsyncIterator[bytes]:
    """Chunks of the file at ``path``, read in worker threads; the file is closed when
    the iterator is exhausted or ``aclose``d."""
    try:
        file = await asyncio.to_thread(path.open, "rb", buffering=0)
    except OSError as exc:
        raise from_os_error("open", exc) from exc
    try:
        while chunk := await asyncio.to_thread(file.read, CHUNK):
            yield chunk
    finally:
        file.close()
