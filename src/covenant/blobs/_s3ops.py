"""S3 mechanics behind ``S3BlobStore``: error translation, a streaming multipart
upload that can be abandoned without a trace, and the server-side copy.

The client is aiobotocore's, which ships no type information, so it is ``Any`` here
and confined to this module and ``s3.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import (  # type: ignore[import-untyped, unused-ignore]
    BotoCoreError,
    ChecksumError,
    ClientError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
)
from botocore.exceptions import (  # type: ignore[import-untyped, unused-ignore]
    ConnectionError as BotoConnectionError,
)

from covenant.blobs._stream import Buffer
from covenant.blobs.errors import BlobStorageError

log = logging.getLogger(__name__)

MIB = 1024 * 1024
MIN_PART = 5 * MIB  # S3's smallest part (all but the last)
MAX_PARTS = 10_000
MAX_SINGLE_COPY = 5 * 1024 * MIB  # CopyObject's limit; larger objects copy in parts
NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
_RETRIABLE_CODES = frozenset(
    {
        "InternalError",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "ServiceUnavailable",
        "SlowDown",
        "Throttling",
        "ThrottlingException",
    }
)
_NETWORK_ERRORS = (
    HTTPClientError,
    BotoConnectionError,
    ChecksumError,
    IncompleteReadError,
    TimeoutError,
    OSError,
)


def error_code(exc: ClientError) -> str:
    """The S3 error code (``NoSuchKey``, ``SlowDown``; ``404`` for a HEAD)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def translate(operation: str, exc: Exception) -> BlobStorageError:
    """Our error for a botocore (or network) one: retriable for 5xx, throttling and
    connection trouble, not for 4xx such as AccessDenied or NoSuchBucket."""
    if isinstance(exc, ClientError):
        code = error_code(exc)
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return BlobStorageError(
            f"S3 {operation} failed: {exc}",
            operation=operation,
            code=code,
            retriable=status >= 500 or code in _RETRIABLE_CODES,
        )
    if isinstance(exc, NoCredentialsError):
        return BlobStorageError(
            f"S3 {operation} failed: {exc}; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
            "or configure a profile",
            operation=operation,
            code="NoCredentials",
        )
    return BlobStorageError(
        f"S3 {operation} failed: {type(exc).__name__}: {exc}",
        operation=operation,
        code=type(exc).__name__,
        retriable=isinstance(exc, _NETWORK_ERRORS),
    )


@contextlib.contextmanager
def translated(operation: str) -> Iterator[None]:
    """Raise botocore and network errors of the block as ``BlobStorageError``."""
    try:
        yield
    except (ClientError, BotoCoreError, TimeoutError, OSError) as exc:
        raise translate(operation, exc) from exc


class MultipartUpload:
    """One object written part by part as bytes arrive, or not at all.

    Parts start at ``part_size`` and double every 1,000 parts, so the 10,000-part
    limit of S3 never caps an upload below S3's own 5 TB object limit. A stream that
    ends before its first part fills is sent with one ``PutObject`` instead. Up to
    ``concurrency`` parts are in flight; ``add`` waits when they all are, which
    bounds memory to about ``concurrency * part size``.
    """

    def __init__(
        self,
        client: Any,
        *,
        bucket: str,
        key: str,
        media_type: str,
        part_size: int,
        concurrency: int,
    ) -> None:
        self._client = client
        self._bucket = bucket
        self._key = key
        self._media_type = media_type
        self._part_size = part_size
        self._slots = asyncio.Semaphore(concurrency)
        self._pending = bytearray()
        self._upload_id: str | None = None
        self._tasks: list[asyncio.Task[dict[str, Any]]] = []
        self._written = False

    def _next_part_size(self) -> int:
        return self._part_size << (len(self._tasks) // 1000)

    async def add(self, chunk: Buffer) -> None:
        """Queue ``chunk``; upload every part that is now full."""
        self._raise_failed()
        self._pending += chunk
        while len(self._pending) >= self._next_part_size():
            size = self._next_part_size()
            part = bytes(self._pending[:size])
            del self._pending[:size]
            await self._start_part(part)

    def _raise_failed(self) -> None:
        for task in self._tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                task.result()

    async def _start_part(self, body: bytes) -> None:
        if self._upload_id is None:
            with translated("put"):
                created = await self._client.create_multipart_upload(
                    Bucket=self._bucket, Key=self._key, ContentType=self._media_type
                )
            self._upload_id = str(created["UploadId"])
        if len(self._tasks) >= MAX_PARTS:
            raise BlobStorageError("S3 put failed: more than 10,000 parts", operation="put")
        await self._slots.acquire()
        number = len(self._tasks) + 1
        self._tasks.append(asyncio.create_task(self._upload_part(number, body)))

    async def _upload_part(self, number: int, body: bytes) -> dict[str, Any]:
        try:
            with translated("put"):
                response = await self._client.upload_part(
                    Bucket=self._bucket,
                    Key=self._key,
                    UploadId=self._upload_id,
                    PartNumber=number,
                    Body=body,
                )
            return {"PartNumber": number, "ETag": response["ETag"]}
        finally:
            self._slots.release()

    async def complete(self) -> None:
        """Send what is left and make the object exist."""
        with translated("put"):
            if self._upload_id is None:
                await self._client.put_object(
                    Bucket=self._bucket,
                    Key=self._key,
                    Body=bytes(self._pending),
                    ContentType=self._media_type,
                )
                self._written = True
                return
            if self._pending:
                await self._start_part(bytes(self._pending))
                self._pending.clear()
            parts = await asyncio.gather(*self._tasks)
            self._written = True  # from here on an error may leave the object behind
            await self._client.complete_multipart_upload(
                Bucket=self._bucket,
                Key=self._key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": list(parts)},
            )
            self._upload_id = None  # completed: nothing left to abort

    async def discard(self) -> None:
        """Remove every trace: cancel parts, abort the upload, delete the object.

        Called when the put failed and after it was published. Best effort and
        never raising, so it cannot mask the error that caused it or fail a put
        whose blob is safe; what it could not remove is logged (and is under
        ``tmp/``, never visible as a blob).
        """
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            if self._upload_id is not None:
                with contextlib.suppress(ClientError):  # completed or gone already
                    await self._client.abort_multipart_upload(
                        Bucket=self._bucket, Key=self._key, UploadId=self._upload_id
                    )
            if self._written:
                await self._client.delete_object(Bucket=self._bucket, Key=self._key)
        except Exception as exc:
            log.warning("could not clean up s3://%s/%s: %s", self._bucket, self._key, exc)


async def copy_object(
    client: Any, *, bucket: str, source: str, target: str, size: int, media_type: str, max_copy: int
) -> None:
    """Server-side copy of ``source`` to ``target`` in the same bucket.

    One ``CopyObject`` copies at most 5 GiB (``max_copy`` may set less, which tests
    do to run the other path); a larger object is copied as a multipart upload of
    ``UploadPartCopy`` ranges of ``max_copy`` bytes, aborted on failure.
    """
    part_size = min(max_copy, MAX_SINGLE_COPY)
    copy_source = {"Bucket": bucket, "Key": source}
    if size <= part_size:
        with translated("put"):
            await client.copy_object(Bucket=bucket, Key=target, CopySource=copy_source)
        return
    with translated("put"):
        created = await client.create_multipart_upload(
            Bucket=bucket, Key=target, ContentType=media_type
        )
    upload_id = created["UploadId"]
    try:
        with translated("put"):
            parts = []
            for number, start in enumerate(range(0, size, part_size), start=1):
                end = min(start + part_size, size) - 1
                response = await client.upload_part_copy(
                    Bucket=bucket,
                    Key=target,
                    UploadId=upload_id,
                    PartNumber=number,
                    CopySource=copy_source,
                    CopySourceRange=f"bytes={start}-{end}",
                )
                parts.append({"PartNumber": number, "ETag": response["CopyPartResult"]["ETag"]})
            await client.complete_multipart_upload(
                Bucket=bucket, Key=target, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
    except BaseException:
        with contextlib.suppress(Exception):
            await client.abort_multipart_upload(Bucket=bucket, Key=target, UploadId=upload_id)
        raise
