"""Picking the artifact store by URL (``open_blobs``)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from covenant.blobs.folder import FolderBlobStore
from covenant.blobs.protocol import BlobStore
from covenant.errors import ConfigError

_S3_OPTIONS = frozenset({"endpoint", "region"})


def open_blobs(url: str) -> BlobStore:
    """The artifact store named by ``url``; use the result with ``async with``.

    * ``file:///var/covenant/blobs`` or a bare path: the embedded folder store;
    * ``s3://bucket/prefix[?endpoint=http://127.0.0.1:9000][&region=eu-west-1]``:
      the S3 store, with credentials from the AWS default chain.

    Raises:
        ConfigError: an unknown scheme, a ``file://`` URL naming a host, an S3 URL
            without a bucket, or an unknown S3 option.
    """
    parsed = urlparse(url)
    if parsed.scheme in ("", "file"):
        if parsed.netloc not in ("", "localhost"):
            raise ConfigError(f"{url!r}: a file URL names a local path, e.g. file:///var/blobs")
        path = unquote(parsed.path) if parsed.scheme else url
        if not path:
            raise ConfigError(f"{url!r}: give a folder, e.g. file:///var/covenant/blobs")
        return FolderBlobStore(Path(path).expanduser())
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ConfigError(f"{url!r}: give the bucket, e.g. s3://my-bucket/covenant")
        options = parse_qs(parsed.query)
        unknown = set(options) - _S3_OPTIONS
        if unknown:
            raise ConfigError(
                f"{url!r}: unknown option(s) {', '.join(sorted(unknown))}; "
                f"known: {', '.join(sorted(_S3_OPTIONS))}"
            )
        endpoint = options.get("endpoint", [None])[0]
        if endpoint is not None and urlparse(endpoint).scheme not in ("http", "https"):
            raise ConfigError(f"{url!r}: endpoint must be an http(s) URL, got {endpoint!r}")
        from covenant.blobs.s3 import S3BlobStore

        region = options.get("region", ["us-east-1"])[0]
        return S3BlobStore(
            parsed.netloc, unquote(parsed.path), endpoint_url=endpoint, region=region
        )
    raise ConfigError(
        f"unsupported blob store URL {url!r}: use file:///path/to/folder or s3://bucket/prefix"
    )
