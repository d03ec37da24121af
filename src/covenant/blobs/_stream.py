"""Reading a ``put`` source once: hashing, size limits and progress, shared by stores.

Chunks are large (4 MiB) so that ``hashlib`` releases the GIL for most of the work
and per-chunk overhead disappears; hashing and any file write run in worker
threads, never on the event loop, so one big upload cannot stall other tasks.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import hashlib
import mmap
import os
import threading
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO, cast

from covenant.blobs.errors import ChecksumMismatchError, TooLargeError, from_os_error
from covenant.blobs.protocol import BlobSource, Progress, StoredBlob

CHUNK = 4 * 1024 * 1024
_ALIGN = 4096  # O_DIRECT wants block-aligned lengths; 4 KiB covers 512 B devices too
_O_DIRECT: int = getattr(os, "O_DIRECT", 0)

Buffer = bytes | bytearray | memoryview


class HashingSink:
    """Hashes chunks, enforces ``max_bytes``, and optionally writes them to a file
    descriptor, hashing one chunk while a second thread writes it.

    With a descriptor opened ``O_DIRECT`` (see ``open_for_streaming``) the bytes are
    staged in a page-aligned buffer and written in whole ``CHUNK`` blocks around
    the page cache, which on a busy or virtualised host is often the slowest part
    of a large put; the short tail is written through the cache by ``finish``.

    ``add``, ``fill`` and ``finish`` block; call them from a worker thread. A chunk
    handed to ``add`` may be reused by the caller as soon as ``add`` returns. One
    lock serialises them with ``close``, so a put cancelled while a thread is still
    inside ``add`` cannot free the buffer under it.
    """

    def __init__(self, *, fd: int | None = None, max_bytes: int | None = None) -> None:
        self._hash = hashlib.sha256()
        self._fd = fd
        self._max = max_bytes
        self._writer: ThreadPoolExecutor | None = None
        self._buffer: mmap.mmap | None = None
        self._staged = 0
        self._lock = threading.Lock()
        self._direct = fd is not None and bool(fcntl.fcntl(fd, fcntl.F_GETFL) & _O_DIRECT)
        if fd is not None:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="covenant-blob-write")
            self._buffer = mmap.mmap(-1, CHUNK)  # page-aligned, as O_DIRECT requires
        self.size = 0

    def _count(self, n: int) -> None:
        if self._max is not None and self.size + n > self._max:
            raise TooLargeError(limit=self._max, received=self.size + n)
        self.size += n

    def add(self, chunk: Buffer) -> None:
        """Take one chunk, refusing it whole if it crosses the limit."""
        with self._lock:
            self._add(chunk)

    def _add(self, chunk: Buffer) -> None:
        self._count(len(chunk))
        if self._fd is None:
            self._hash.update(chunk)
            return
        data = memoryview(chunk).cast("B")
        with memoryview(self._open_buffer()) as staging:
            while data:
                take = min(len(data), CHUNK - self._staged)
                staging[self._staged : self._staged + take] = data[:take]
                self._staged += take
                data = data[take:]
                if self._staged == CHUNK:
                    self._flush(staging)

    def fill(self, file: BinaryIO) -> int:
        """Read from ``file`` straight into the staging buffer (no copy); 0 at EOF."""
        with self._lock:
            readinto = getattr(file, "readinto", None)
            if self._fd is None or readinto is None:
                chunk = file.read(CHUNK)
                self._add(chunk)
                return len(chunk)
            with memoryview(self._open_buffer()) as staging:
                n = int(readinto(staging[self._staged :]) or 0)
                if n:
                    self._count(n)
                    self._staged += n
                    if self._staged == CHUNK:
                        self._flush(staging)
            return n

    def _open_buffer(self) -> mmap.mmap:
        if self._buffer is None:
            raise RuntimeError("the sink is closed")
        return self._buffer

    def _flush(self, staging: memoryview) -> None:
        block = staging[: self._staged]
        self._staged = 0
        assert self._writer is not None
        assert self._fd is not None
        if len(block) % _ALIGN and self._direct:
            fcntl.fcntl(self._fd, fcntl.F_SETFL, fcntl.fcntl(self._fd, fcntl.F_GETFL) & ~_O_DIRECT)
            self._direct = False
        write = self._writer.submit(write_all, self._fd, block)
        try:
            self._hash.update(block)
        finally:
            try:
                write.result()
            except OSError as exc:  # the store's disk, not the caller's source
                raise from_os_error("put", exc) from exc
            finally:
                block.release()

    def finish(self) -> str:
        """Write what is still staged; the hex digest of everything taken."""
        with self._lock:
            if self._fd is not None and self._staged:
                with memoryview(self._open_buffer()) as staging:
                    self._flush(staging)
            return self._hash.hexdigest()

    def close(self) -> None:
        """Stop the writer thread and free the buffer, once any ``add`` in progress
        has returned; idempotent."""
        with self._lock:
            if self._writer is not None:
                self._writer.shutdown(wait=True)
                self._writer = None
            if self._buffer is not None:
                self._buffer.close()
                self._buffer = None


def open_for_streaming(path: Path) -> int:
    """Create ``path`` exclusively for one large sequential write: ``O_DIRECT`` where
    the platform and filesystem allow it, the page cache otherwise."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    if _O_DIRECT:
        try:
            return os.open(path, flags | _O_DIRECT, 0o600)
        except OSError as exc:
            if exc.errno != errno.EINVAL:  # EINVAL: this filesystem has no O_DIRECT
                raise
    return os.open(path, flags, 0o600)


def write_all(fd: int, data: Buffer) -> None:
    """``os.write`` until every byte is written (it may write fewer)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _as_file(source: BlobSource) -> BinaryIO | None:
    """``source`` when it is a file object rather than an async iterable."""
    if isinstance(source, AsyncIterable):
        return None
    if not hasattr(source, "read"):
        raise TypeError(
            f"a blob source is an async iterable of bytes or a binary file, not {source!r}"
        )
    return source


async def feed(
    sink: HashingSink,
    source: BlobSource,
    *,
    progress: Progress | None = None,
    on_chunk: Callable[[Buffer], Awaitable[None]] | None = None,
) -> None:
    """Push every byte of ``source`` through ``sink`` (and then ``on_chunk``).

    A file object is read in the worker thread with one reused buffer; an async
    iterable is gathered into ``CHUNK``-sized batches, hashing one batch in a
    thread while the next is being received. ``on_chunk`` (the S3 part uploader)
    receives each hashed batch in order.
    """
    file = _as_file(source)
    if file is not None and on_chunk is None:
        await _feed_file(sink, file, progress)
        return
    pending: asyncio.Future[None] | None = None
    try:
        async for batch in _batches(source):
            if pending is not None:
                await pending
            pending = asyncio.ensure_future(_hash_then(sink, batch, progress, on_chunk))
        if pending is not None:
            await pending
    finally:
        if pending is not None and not pending.done():
            # The source failed while a batch was in hand: let it finish (its own
            # error, if any, is secondary) so nothing runs on after the put ends.
            await asyncio.wait([pending])
            if not pending.cancelled():
                pending.exception()  # retrieved, so asyncio does not log it


async def hash_only(
    source: BlobSource, existing: StoredBlob, *, max_bytes: int | None, progress: Progress | None
) -> StoredBlob:
    """``existing`` once every byte of ``source`` is read and hashed, writing nothing.

    A store's ``put`` takes this path when ``expected_sha256`` names bytes it has
    already: it must still read the source once and keep the checksum promise.

    Raises:
        ChecksumMismatchError: the source hashes to something else.
        TooLargeError: more than ``max_bytes`` arrived.
    """
    sink = HashingSink(max_bytes=max_bytes)
    await feed(sink, source, progress=progress)
    digest = sink.finish()
    if digest != existing.sha256:
        raise ChecksumMismatchError(expected=existing.sha256, actual=digest, size=sink.size)
    return existing


async def _hash_then(
    sink: HashingSink,
    batch: Buffer,
    progress: Progress | None,
    on_chunk: Callable[[Buffer], Awaitable[None]] | None,
) -> None:
    await asyncio.to_thread(sink.add, batch)
    if progress is not None:
        progress(sink.size)
    if on_chunk is not None:
        await on_chunk(batch)


async def _batches(source: BlobSource) -> AsyncIterator[Buffer]:
    """``source`` regrouped into chunks of at least ``CHUNK`` bytes (the last may be
    shorter), copying only when small chunks must be joined."""
    file = _as_file(source)
    if file is not None:
        while chunk := await asyncio.to_thread(file.read, CHUNK):
            yield chunk
        return
    gathered = bytearray()
    async for chunk in cast(AsyncIterable[bytes], source):
        if not isinstance(chunk, bytes | bytearray | memoryview):
            raise TypeError(f"a blob source yields bytes, not {type(chunk).__name__}")
        if not gathered and len(chunk) >= CHUNK:
            yield chunk
            continue
        gathered += chunk
        if len(gathered) >= CHUNK:
            yield gathered
            gathered = bytearray()
    if gathered:
        yield gathered


async def _feed_file(sink: HashingSink, file: BinaryIO, progress: Progress | None) -> None:
    loop = asyncio.get_running_loop()

    def run() -> None:
        while sink.fill(file):
            if progress is not None:
                loop.call_soon_threadsafe(progress, sink.size)

    await asyncio.to_thread(run)
