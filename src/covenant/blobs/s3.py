"""The production artifact store: content-addressed objects in an S3 bucket.

Keys under ``prefix``::

    sha256/<hex>     the bytes, with their media type as Content-Type
    tmp/<uuid>       uploads in progress; deleted (or their multipart upload
                     aborted) whether the put succeeds or fails

A put streams a multipart upload to ``tmp/<uuid>`` while hashing. Only when the
stream is complete and checked is the object copied server-side to its address, and
the temporary key deleted; a bucket lifecycle rule that expires ``tmp/`` after a day
catches what a crash in between leaves. Any S3-compatible server works
(``endpoint_url``): MinIO, Ceph, moto.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Self

from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]

from covenant.blobs._s3ops import (
    MAX_SINGLE_COPY,
    MIB,
    MIN_PART,
    NOT_FOUND_CODES,
    MultipartUpload,
    copy_object,
    error_code,
    translated,
)
from covenant.blobs._stream import CHUNK, HashingSink, feed, hash_only
from covenant.blobs.errors import BlobError, BlobNotFoundError, ChecksumMismatchError
from covenant.blobs.protocol import (
    BlobSource,
    Progress,
    StoredBlob,
    parse_artifact_id,
    parse_sha256,
)


@dataclass(frozen=True)
class S3Credentials:
    """Static credentials, for tests and S3-compatible servers; without them the
    usual AWS chain (environment, profile, instance role) applies."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)


class S3BlobStore:
    """Content-addressed blobs in ``s3://bucket/prefix`` (see the module doc).

    The constructor touches nothing; ``async with`` opens the client.

    Args:
        bucket: an existing bucket.
        prefix: key prefix, without leading or trailing ``/`` (either is stripped).
        endpoint_url: an S3-compatible server, e.g. ``http://127.0.0.1:9000``.
        region: the bucket's region.
        credentials: static keys; None uses the AWS default chain.
        part_size: first multipart part size (at least 5 MiB, S3's minimum).
        concurrency: parts uploaded at once per put.
        max_copy: largest single server-side copy; above it the copy to the final
            key is done in ``UploadPartCopy`` ranges (S3 caps one copy at 5 GiB).
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        credentials: S3Credentials | None = None,
        part_size: int = 8 * MIB,
        concurrency: int = 4,
        max_copy: int = MAX_SINGLE_COPY,
    ) -> None:
        if part_size < MIN_PART:
            raise ValueError(f"part_size must be at least {MIN_PART} bytes (S3's minimum)")
        if not MIN_PART <= max_copy <= MAX_SINGLE_COPY:
            raise ValueError(f"max_copy must be between {MIN_PART} and {MAX_SINGLE_COPY}")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url
        self.region = region
        self._credentials = credentials
        self._part_size = part_size
        self._concurrency = max(1, concurrency)
        self._max_copy = max_copy
        self._stack: contextlib.AsyncExitStack | None = None
        self._s3: Any = None

    def __repr__(self) -> str:
        return f"S3BlobStore({self.bucket!r}, {self.prefix!r}, endpoint_url={self.endpoint_url!r})"

    def _key(self, *parts: str) -> str:
        return "/".join((self.prefix, *parts) if self.prefix else parts)

    def _uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    async def __aenter__(self) -> Self:
        if self._s3 is None:
            import aioboto3  # type: ignore[import-untyped, unused-ignore]

            keys: dict[str, str | None] = {}
            if self._credentials is not None:
                keys = {
                    "aws_access_key_id": self._credentials.access_key_id,
                    "aws_secret_access_key": self._credentials.secret_access_key,
                    "aws_session_token": self._credentials.session_token,
                }
            session = aioboto3.Session(region_name=self.region, **keys)
            stack = contextlib.AsyncExitStack()
            with translated("open"):
                self._s3 = await stack.enter_async_context(
                    session.client("s3", endpoint_url=self.endpoint_url)
                )
            self._stack = stack
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the client; idempotent."""
        stack, self._stack, self._s3 = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    @property
    def _client(self) -> Any:
        if self._s3 is None:
            raise BlobError("the S3 blob store is not open; use 'async with'")
        return self._s3

    async def _head(self, digest: str, *, deduplicated: bool = False) -> StoredBlob | None:
        key = self._key("sha256", digest)
        with translated("stat"):
            try:
                head = await self._client.head_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                if error_code(exc) in NOT_FOUND_CODES:
                    return None
                raise
        return StoredBlob(
            artifact_id=f"sha256:{digest}",
            sha256=digest,
            size=int(head["ContentLength"]),
            media_type=str(head.get("ContentType") or "application/octet-stream"),
            uri=self._uri(key),
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
        """Upload ``source`` to ``tmp/``, then copy it to its address; see
        ``BlobStore.put``. Bytes already stored are hashed but not uploaded when
        ``expected_sha256`` names them."""
        client = self._client
        expected = parse_sha256(expected_sha256) if expected_sha256 is not None else None
        if expected is not None:
            existing = await self._head(expected, deduplicated=True)
            if existing is not None:
                return await hash_only(source, existing, max_bytes=max_bytes, progress=progress)
        tmp_key = self._key("tmp", uuid.uuid4().hex)
        upload = MultipartUpload(
            client,
            bucket=self.bucket,
            key=tmp_key,
            media_type=media_type,
            part_size=self._part_size,
            concurrency=self._concurrency,
        )
        sink = HashingSink(max_bytes=max_bytes)
        try:
            await feed(sink, source, progress=progress, on_chunk=upload.add)
            digest = sink.finish()
            if expected is not None and digest != expected:
                raise ChecksumMismatchError(expected=expected, actual=digest, size=sink.size)
            await upload.complete()
            stored = await self._publish(tmp_key, digest, sink.size, media_type)
        except BaseException:
            await upload.discard()
            raise
        finally:
            sink.close()
        await upload.discard()  # the blob is safe at its address; tmp/ is not needed
        return stored

    async def _publish(self, tmp_key: str, digest: str, size: int, media_type: str) -> StoredBlob:
        """Copy the completed upload to its address unless the bytes are there already."""
        existing = await self._head(digest, deduplicated=True)
        if existing is None:
            final = self._key("sha256", digest)
            await copy_object(
                self._client,
                bucket=self.bucket,
                source=tmp_key,
                target=final,
                size=size,
                media_type=media_type,
                max_copy=self._max_copy,
            )
        if existing is not None:
            return existing
        return StoredBlob(
            artifact_id=f"sha256:{digest}",
            sha256=digest,
            size=size,
            media_type=media_type,
            uri=self._uri(self._key("sha256", digest)),
        )

    async def stat(self, artifact_id: str) -> StoredBlob | None:
        """The stored blob (one HEAD request), or None; see ``BlobStore.stat``."""
        return await self._head(parse_artifact_id(artifact_id))

    async def exists(self, artifact_id: str) -> bool:
        """Whether bytes are stored at ``artifact_id``."""
        return await self.stat(artifact_id) is not None

    async def open(self, artifact_id: str) -> AsyncIterator[bytes]:
        """Stream the object; see ``BlobStore.open``. The GET starts on first
        iteration, so an iterator that is never used holds no connection."""
        digest = parse_artifact_id(artifact_id)
        if await self._head(digest) is None:
            raise BlobNotFoundError(artifact_id)
        return self._chunks(artifact_id, self._key("sha256", digest))

    async def _chunks(self, artifact_id: str, key: str) -> AsyncGenerator[bytes, None]:
        with translated("open"):
            try:
                response = await self._client.get_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                if error_code(exc) in NOT_FOUND_CODES:
                    raise BlobNotFoundError(artifact_id) from None
                raise
            body = response["Body"]
            async with body:  # releases the connection however iteration ends
                async for chunk in body.iter_chunks(CHUNK):
                    yield chunk

    async def verify(self, artifact_id: str) -> str:
        """Download and re-hash the object (hashing in worker threads); see
        ``BlobStore.verify``."""
        digest = parse_artifact_id(artifact_id)
        stream = self._chunks(artifact_id, self._key("sha256", digest))
        sink = HashingSink()
        try:
            await feed(sink, stream)
        finally:
            await stream.aclose()
        return sink.finish()
