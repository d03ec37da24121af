"""What the artifact store raises, each with the fields a caller needs to act.

Backend errors (``OSError``, botocore's) are translated at the adapter boundary into
this tree, so a worker decides from ``retriable`` alone whether to try again::

    CovenantError
    └── BlobError                   the artifact store refused or failed
        ├── InvalidArtifactIdError  not ``sha256:<64 lowercase hex>``; nothing was touched
        ├── BlobNotFoundError       no blob at that address
        ├── ChecksumMismatchError   the bytes did not hash to what the caller expected
        ├── TooLargeError           the bytes went past the caller's ``max_bytes``
        └── BlobStorageError        the backend failed (retriable for network and 5xx)
"""

from __future__ import annotations

import errno

from covenant.errors import CovenantError


class BlobError(CovenantError):
    """The artifact store refused or failed; never retriable unless a subclass says so."""


class InvalidArtifactIdError(BlobError):
    """An artifact id that is not ``sha256:`` followed by 64 lowercase hex digits.

    Raised before any storage is touched, so a name like ``../../etc/passwd`` can
    never reach a path or an object key.

    Attributes:
        value: the offending id, as given.
    """

    def __init__(self, value: str) -> None:
        super().__init__(f"{value!r} is not an artifact id (sha256:<64 lowercase hex>)")
        self.value = value


class BlobNotFoundError(BlobError):
    """No blob is stored at this address.

    Attributes:
        artifact_id: the address looked up.
    """

    def __init__(self, artifact_id: str) -> None:
        super().__init__(f"no blob stored at {artifact_id}")
        self.artifact_id = artifact_id


class ChecksumMismatchError(BlobError):
    """The streamed bytes did not hash to ``expected``; nothing was stored.

    Not retriable: the same bytes will hash the same way again.

    Attributes:
        expected: the hex digest the caller promised.
        actual: the hex digest of the bytes received.
        size: how many bytes were received.
    """

    def __init__(self, *, expected: str, actual: str, size: int) -> None:
        super().__init__(
            f"bytes hash to sha256:{actual} ({size} bytes), not the expected sha256:{expected}"
        )
        self.expected = expected
        self.actual = actual
        self.size = size


class TooLargeError(BlobError):
    """The stream went past ``max_bytes``; it was cut off there and nothing was stored.

    Attributes:
        limit: the caller's ``max_bytes``.
        received: bytes received when the limit was crossed (more than ``limit``;
            the full size is unknown because the rest was never read).
    """

    def __init__(self, *, limit: int, received: int) -> None:
        super().__init__(f"blob exceeds the limit of {limit} bytes (got {received} so far)")
        self.limit = limit
        self.received = received


class BlobStorageError(BlobError):
    """The backend could not do what was asked.

    Attributes:
        operation: what the store was doing (``put``, ``open``, ...).
        code: the backend's error code (an S3 code such as ``SlowDown``, or an
            ``errno`` name), empty when there is none.
    """

    def __init__(
        self, message: str, *, operation: str, code: str = "", retriable: bool = False
    ) -> None:
        super().__init__(message, retriable=retriable)
        self.operation = operation
        self.code = code


_RETRIABLE_ERRNOS = frozenset({errno.EAGAIN, errno.EINTR, errno.EBUSY, errno.ETIMEDOUT})


def from_os_error(operation: str, exc: OSError) -> BlobStorageError:
    """Translate a filesystem error; only transient conditions are retriable (a full
    disk or a permission problem needs a person, not a retry)."""
    return BlobStorageError(
        f"blob {operation} failed: {exc}",
        operation=operation,
        code=errno.errorcode.get(exc.errno or 0, ""),
        retriable=exc.errno in _RETRIABLE_ERRNOS,
    )
