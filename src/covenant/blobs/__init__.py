"""The artifact store: immutable blobs addressed by their SHA-256.

One protocol (``BlobStore``), the embedded folder store and an S3 store, picked by
URL with ``open_blobs``. The S3 store lives in ``covenant.blobs.s3`` and is
imported only when an ``s3://`` URL asks for it, so the embedded default never
pays for importing boto.
"""

from __future__ import annotations

from covenant.blobs._open import open_blobs
from covenant.blobs.errors import (
    BlobError,
    BlobNotFoundError,
    BlobStorageError,
    ChecksumMismatchError,
    InvalidArtifactIdError,
    TooLargeError,
)
from covenant.blobs.folder import FolderBlobStore
from covenant.blobs.protocol import BlobSource, BlobStore, StoredBlob, parse_artifact_id

__all__ = [
    "BlobError",
    "BlobNotFoundError",
    "BlobSource",
    "BlobStorageError",
    "BlobStore",
    "ChecksumMismatchError",
    "FolderBlobStore",
    "InvalidArtifactIdError",
    "StoredBlob",
    "TooLargeError",
    "open_blobs",
    "parse_artifact_id",
]
