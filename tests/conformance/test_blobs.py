"""The BlobStore contract, run against the folder store and S3 (a real moto server
process started once for the session; every test gets a fresh key prefix).

"Leaves nothing" is checked against the backend itself: the folder's ``tmp/``
listing, and on S3 every object version and in-progress multipart upload under
the prefix (the test bucket is versioned, so even a written-then-deleted
temporary object would show).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from covenant.blobs import (
    BlobError,
    BlobNotFoundError,
    BlobStore,
    ChecksumMismatchError,
    FolderBlobStore,
    InvalidArtifactIdError,
    TooLargeError,
    open_blobs,
)
from covenant.blobs._stream import CHUNK, HashingSink, open_for_streaming
from covenant.blobs.s3 import S3BlobStore
from covenant.errors import ConfigError
from covenant.testing.s3 import LocalS3

MIB = 1024 * 1024
BAD_IDS = [
    "../../etc/passwd",
    "sha256:../x",
    "sha256:" + "../" * 21 + "a",
    "sha256:" + "A" * 64,
    "sha256:" + "0" * 63,
    "sha256:" + "0" * 65,
    "sha512:" + "0" * 64,
    "0" * 64,
    "sha256:" + "0" * 63 + "\n",
    "",
]


@pytest.fixture(scope="session")
def local_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalS3]:
    with LocalS3("covenant-blobs", workdir=tmp_path_factory.mktemp("s3")) as server:
        admin = s3_admin(server)
        admin.put_bucket_versioning(
            Bucket=server.bucket, VersioningConfiguration={"Status": "Enabled"}
        )
        yield server


def s3_admin(server: LocalS3) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=server.endpoint_url,
        region_name=server.region,
        aws_access_key_id=server.credentials.access_key_id,
        aws_secret_access_key=server.credentials.secret_access_key,
    )


class Backend:
    """A store under test plus what the test needs to look behind it."""

    def __init__(self, store: BlobStore) -> None:
        self.store = store

    def leftovers(self) -> list[str]:
        """What unfinished or failed puts left visible: temporary files or objects,
        multipart uploads in progress."""
        raise NotImplementedError

    def traces(self) -> list[str]:
        """``leftovers`` and anything that was ever written under ``tmp/`` (on S3,
        object versions and delete markers): a put refused before its upload
        completed must not even have written a temporary object."""
        return self.leftovers()

    def stored(self) -> list[str]:
        """Every blob at an address."""
        raise NotImplementedError

    def identity(self, digest: str) -> object:
        """Something that changes if the blob ``digest`` is written again."""
        raise NotImplementedError

    def unreachable(self) -> BlobStore:
        """A store on which any storage access fails."""
        raise NotImplementedError


class FolderBackend(Backend):
    def __init__(self, root: Path) -> None:
        super().__init__(FolderBlobStore(root))
        self.root = root

    def leftovers(self) -> list[str]:
        tmp = self.root / "tmp"
        return sorted(p.name for p in tmp.iterdir()) if tmp.exists() else []

    def stored(self) -> list[str]:
        return sorted(p.name for p in (self.root / "sha256").glob("*/*"))

    def identity(self, digest: str) -> object:
        st = (self.root / "sha256" / digest[:2] / digest).stat()
        return (st.st_ino, st.st_mtime_ns, st.st_ctime_ns)

    def unreachable(self) -> BlobStore:
        not_a_folder = self.root.parent / f"file-{uuid.uuid4().hex}"
        not_a_folder.write_bytes(b"")
        return FolderBlobStore(not_a_folder)


class S3Backend(Backend):
    def __init__(self, server: LocalS3, prefix: str) -> None:
        super().__init__(
            S3BlobStore(
                server.bucket,
                prefix,
                endpoint_url=server.endpoint_url,
                credentials=server.credentials,
            )
        )
        self.server = server
        self.prefix = prefix
        self.admin = s3_admin(server)

    def versions(self, under: str) -> list[dict[str, Any]]:
        listed = self.admin.list_object_versions(
            Bucket=self.server.bucket, Prefix=f"{self.prefix}/{under}"
        )
        return [*listed.get("Versions", []), *listed.get("DeleteMarkers", [])]

    def leftovers(self) -> list[str]:
        uploads = self.admin.list_multipart_uploads(
            Bucket=self.server.bucket, Prefix=f"{self.prefix}/"
        ).get("Uploads", [])
        listed = self.admin.list_objects_v2(Bucket=self.server.bucket, Prefix=f"{self.prefix}/tmp/")
        return sorted(o["Key"] for o in [*listed.get("Contents", []), *uploads])

    def traces(self) -> list[str]:
        return sorted({*self.leftovers(), *(v["Key"] for v in self.versions("tmp/"))})

    def stored(self) -> list[str]:
        listed = self.admin.list_objects_v2(
            Bucket=self.server.bucket, Prefix=f"{self.prefix}/sha256/"
        )
        return sorted(o["Key"].rsplit("/", 1)[1] for o in listed.get("Contents", []))

    def identity(self, digest: str) -> object:
        return sorted(v["VersionId"] for v in self.versions(f"sha256/{digest}"))

    def unreachable(self) -> BlobStore:
        # Never entered, so it has no client: any access raises "not open".
        return S3BlobStore(self.server.bucket, self.prefix, endpoint_url="http://127.0.0.1:1")


@pytest.fixture(params=["folder", "s3"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "folder":
        chosen: Backend = FolderBackend(tmp_path / "blobs")
    else:
        chosen = S3Backend(request.getfixturevalue("local_s3"), f"t{uuid.uuid4().hex[:12]}")
    async with chosen.store:
        yield chosen


async def chunks(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        await asyncio.sleep(0)
        yield data[i : i + size]


async def read_all(store: BlobStore, artifact_id: str) -> bytes:
    return b"".join([c async for c in await store.open(artifact_id)])


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_put_stat_open_verify_roundtrip(backend: Backend) -> None:
    data = os.urandom(300_001)
    stored = await backend.store.put(source=chunks(data), media_type="application/x-test")
    assert stored.sha256 == sha(data)
    assert stored.artifact_id == f"sha256:{sha(data)}"
    assert stored.size == len(data)
    assert stored.media_type == "application/x-test"
    assert stored.uri.split(":", 1)[0] in ("file", "s3")
    assert stored.uri.endswith(f"sha256/{sha(data)[:2]}/{sha(data)}") or stored.uri.endswith(
        f"/sha256/{sha(data)}"
    )
    assert not stored.deduplicated
    assert await backend.store.stat(stored.artifact_id) == stored
    assert await backend.store.exists(stored.artifact_id)
    assert await read_all(backend.store, stored.artifact_id) == data
    assert await backend.store.verify(stored.artifact_id) == sha(data)
    assert backend.leftovers() == []
    assert backend.stored() == [sha(data)]


async def test_put_reads_binary_files_and_empty_streams(backend: Backend, tmp_path: Path) -> None:
    data = os.urandom(5 * MIB + 17)
    path = tmp_path / "upload.bin"
    path.write_bytes(data)
    with path.open("rb") as file:
        from_file = await backend.store.put(source=file, media_type="a/b")
    from_memory = await backend.store.put(source=io.BytesIO(b"small"), media_type="a/b")
    empty = await backend.store.put(source=chunks(b""), media_type="a/b")
    assert (from_file.sha256, from_file.size) == (sha(data), len(data))
    assert from_memory.sha256 == sha(b"small")
    assert (empty.sha256, empty.size) == (sha(b""), 0)
    assert await read_all(backend.store, empty.artifact_id) == b""
    assert await read_all(backend.store, from_file.artifact_id) == data


async def test_putting_stored_bytes_again_deduplicates_without_rewriting(
    backend: Backend,
) -> None:
    data = os.urandom(100_000)
    first = await backend.store.put(source=chunks(data), media_type="first/type")
    before = backend.identity(first.sha256)
    again = await backend.store.put(source=chunks(data, 999), media_type="second/type")
    known = await backend.store.put(
        source=io.BytesIO(data), media_type="third/type", expected_sha256=first.sha256
    )
    assert again.deduplicated
    assert known.deduplicated
    for blob in (again, known):
        assert (blob.artifact_id, blob.uri, blob.size) == (first.artifact_id, first.uri, first.size)
        assert blob.media_type == "first/type"
    assert backend.identity(first.sha256) == before
    assert backend.stored() == [first.sha256]
    assert backend.leftovers() == []


async def test_concurrent_puts_of_the_same_bytes_store_one_blob(backend: Backend) -> None:
    data = os.urandom(6 * MIB)
    results = await asyncio.gather(
        *(backend.store.put(source=chunks(data, MIB), media_type="x/y") for _ in range(3))
    )
    assert {r.artifact_id for r in results} == {f"sha256:{sha(data)}"}
    assert backend.stored() == [sha(data)]
    assert await backend.store.verify(f"sha256:{sha(data)}") == sha(data)
    assert backend.leftovers() == []


@pytest.mark.parametrize("size", [1000, 9 * MIB + 3])
async def test_expected_sha256_mismatch_leaves_nothing(backend: Backend, size: int) -> None:
    data = os.urandom(size)
    wrong = sha(b"something else")
    with pytest.raises(ChecksumMismatchError) as caught:
        await backend.store.put(source=chunks(data, MIB), media_type="x/y", expected_sha256=wrong)
    assert (caught.value.expected, caught.value.actual, caught.value.size) == (
        wrong,
        sha(data),
        size,
    )
    assert not caught.value.retriable
    assert await backend.store.stat(f"sha256:{sha(data)}") is None
    assert await backend.store.stat(f"sha256:{wrong}") is None
    assert backend.stored() == []
    assert backend.traces() == []


async def test_mismatch_against_already_stored_bytes_is_refused(backend: Backend) -> None:
    stored = await backend.store.put(source=chunks(b"real"), media_type="x/y")
    with pytest.raises(ChecksumMismatchError):
        await backend.store.put(
            source=chunks(b"fake"), media_type="x/y", expected_sha256=stored.sha256
        )
    assert backend.stored() == [stored.sha256]
    assert backend.leftovers() == []


@pytest.mark.parametrize("size", [2000, 12 * MIB])
async def test_max_bytes_exceeded_leaves_nothing(backend: Backend, size: int) -> None:
    data = os.urandom(size)
    with pytest.raises(TooLargeError) as caught:
        await backend.store.put(source=chunks(data, MIB), media_type="x/y", max_bytes=size - 1)
    assert caught.value.limit == size - 1
    assert caught.value.received > size - 1
    assert await backend.store.stat(f"sha256:{sha(data)}") is None
    assert backend.stored() == []
    assert backend.traces() == []
    exact = await backend.store.put(source=chunks(data, MIB), media_type="x/y", max_bytes=size)
    assert exact.size == size


@pytest.mark.parametrize("bad", BAD_IDS)
async def test_invalid_ids_are_refused_before_storage_access(backend: Backend, bad: str) -> None:
    unreachable = backend.unreachable()
    valid = "sha256:" + "0" * 64
    with pytest.raises(BlobError) as caught:
        await unreachable.stat(valid)
    assert not isinstance(caught.value, InvalidArtifactIdError)  # it would have failed
    for store in (backend.store, unreachable):
        with pytest.raises(InvalidArtifactIdError) as refused:
            await store.stat(bad)
        assert refused.value.value == bad
        with pytest.raises(InvalidArtifactIdError):
            await store.exists(bad)
        with pytest.raises(InvalidArtifactIdError):
            await store.open(bad)
        with pytest.raises(InvalidArtifactIdError):
            await store.verify(bad)
    assert backend.traces() == []


@pytest.mark.parametrize("bad", ["../../x", "A" * 64, "sha256:" + "0" * 64, ""])
async def test_a_malformed_expected_sha256_is_refused_before_reading(
    backend: Backend, bad: str
) -> None:
    with pytest.raises(InvalidArtifactIdError):
        await backend.store.put(source=chunks(b"x"), media_type="x/y", expected_sha256=bad)
    assert backend.traces() == []


async def test_large_streaming_put_reports_progress_to_the_total(backend: Backend) -> None:
    data = os.urandom(40 * MIB + 123)  # not a multiple of any block or part size
    seen: list[int] = []
    stored = await backend.store.put(
        source=chunks(data, 700 * 1024), media_type="x/y", progress=seen.append
    )
    assert stored.size == len(data)
    assert stored.sha256 == sha(data)
    assert len(seen) > 5
    assert seen == sorted(seen)
    assert seen[-1] == len(data)
    assert await backend.store.verify(stored.artifact_id) == sha(data)
    assert await read_all(backend.store, stored.artifact_id) == data
    assert backend.leftovers() == []


async def test_missing_blobs(backend: Backend) -> None:
    missing = "sha256:" + "a" * 64
    assert await backend.store.stat(missing) is None
    assert not await backend.store.exists(missing)
    with pytest.raises(BlobNotFoundError) as caught:
        await backend.store.open(missing)
    assert caught.value.artifact_id == missing
    with pytest.raises(BlobNotFoundError):
        await backend.store.verify(missing)


class UploaderGoneError(Exception):
    pass


async def broken_source(good_bytes: int) -> AsyncIterator[bytes]:
    sent = 0
    while sent < good_bytes:
        yield os.urandom(MIB)
        sent += MIB
    raise UploaderGoneError("connection to the uploader dropped")


@pytest.mark.parametrize("good_bytes", [0, MIB, 20 * MIB])
async def test_a_source_failing_mid_stream_leaves_nothing(
    backend: Backend, good_bytes: int
) -> None:
    with pytest.raises(UploaderGoneError):
        await backend.store.put(source=broken_source(good_bytes), media_type="x/y")
    assert backend.stored() == []
    assert backend.traces() == []


async def test_a_cancelled_put_leaves_nothing(backend: Backend) -> None:
    started = asyncio.Event()

    async def stalls() -> AsyncIterator[bytes]:
        for _ in range(12):
            yield os.urandom(MIB)
        started.set()
        await asyncio.Event().wait()
        yield b""

    task = asyncio.create_task(backend.store.put(source=stalls(), media_type="x/y"))
    await asyncio.wait_for(started.wait(), 30)
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert backend.stored() == []
    assert backend.traces() == []


async def test_closing_twice_is_harmless(backend: Backend) -> None:
    await backend.store.aclose()
    await backend.store.aclose()
    with pytest.raises(BlobError):
        await backend.store.stat("sha256:" + "0" * 64)


async def test_s3_streams_in_parts_and_copies_large_objects_in_ranges(local_s3: LocalS3) -> None:
    backend = S3Backend(local_s3, f"t{uuid.uuid4().hex[:12]}")
    store = S3BlobStore(
        local_s3.bucket,
        backend.prefix,
        endpoint_url=local_s3.endpoint_url,
        credentials=local_s3.credentials,
        max_copy=16 * MIB,  # below the 40 MiB object: exercises UploadPartCopy
    )
    data = os.urandom(40 * MIB + 123)
    async with store:
        stored = await store.put(source=chunks(data, MIB), media_type="x/y")
        assert await store.verify(stored.artifact_id) == sha(data)
    # A multipart ETag ends in "-<parts>": 8 MiB parts upload 6 parts, 16 MiB copy
    # ranges make 3, and the temporary object was removed after the copy.
    (temporary,) = [v for v in backend.versions("tmp/") if "ETag" in v]
    assert temporary["ETag"].strip('"').endswith("-6")
    head = backend.admin.head_object(
        Bucket=local_s3.bucket, Key=f"{backend.prefix}/sha256/{stored.sha256}"
    )
    assert head["ETag"].strip('"').endswith("-3")
    assert head["ContentType"] == "x/y"
    assert backend.leftovers() == []


async def test_folder_blobs_are_read_only_at_their_content_address(tmp_path: Path) -> None:
    async with FolderBlobStore(tmp_path) as store:
        stored = await store.put(source=chunks(b"layout"), media_type="text/plain")
    path = tmp_path / "sha256" / stored.sha256[:2] / stored.sha256
    assert stored.uri == path.as_uri()
    assert path.read_bytes() == b"layout"
    assert path.stat().st_mode & 0o777 == 0o444
    assert list((tmp_path / "tmp").iterdir()) == []


async def test_open_blobs_picks_the_store_from_the_url(
    tmp_path: Path, local_s3: LocalS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    for url in (tmp_path.as_uri(), str(tmp_path)):
        store = open_blobs(url)
        assert isinstance(store, FolderBlobStore)
        assert store.root == tmp_path
    for name, value in local_s3.env().items():
        monkeypatch.setenv(name, value)  # the AWS default chain reads these
    prefix = f"t{uuid.uuid4().hex[:12]}"
    s3 = open_blobs(local_s3.url_for(local_s3.bucket, prefix))
    assert isinstance(s3, S3BlobStore)
    assert (s3.bucket, s3.prefix, s3.endpoint_url) == (
        local_s3.bucket,
        prefix,
        local_s3.endpoint_url,
    )
    async with s3:
        stored = await s3.put(source=chunks(b"via url"), media_type="x/y")
        assert await read_all(s3, stored.artifact_id) == b"via url"
    assert stored.uri == f"s3://{local_s3.bucket}/{prefix}/sha256/{stored.sha256}"


@pytest.mark.parametrize(
    "url",
    [
        "file://somehost/var/blobs",
        "s3://",
        "s3://bucket/p?endpoint=ftp://x",
        "s3://bucket/p?colour=blue",
        "gs://bucket/p",
    ],
)
def test_open_blobs_refuses_urls_it_cannot_serve(url: str) -> None:
    with pytest.raises(ConfigError):
        open_blobs(url)


@pytest.mark.parametrize("direct", [True, False])
def test_folder_sink_writes_exactly_the_bytes_around_or_through_the_page_cache(
    tmp_path: Path, direct: bool
) -> None:
    path = tmp_path / "out"
    if direct:
        fd = open_for_streaming(path)  # O_DIRECT where the filesystem has it
    else:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    data = os.urandom(3 * CHUNK + 4097)
    sink = HashingSink(fd=fd)
    try:
        sink.add(data[:10])
        sink.add(data[10 : CHUNK + 5])
        with io.BytesIO(data[CHUNK + 5 :]) as rest:
            while sink.fill(rest):
                pass
        digest = sink.finish()
    finally:
        sink.close()
        os.close(fd)
    assert digest == sha(data)
    assert path.read_bytes() == data
