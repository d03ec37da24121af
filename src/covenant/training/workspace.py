"""What the launcher does to a run's work folder: check the code out at its commit,
fetch the datasets (verifying them), and upload what the entrypoint wrote.

The artifact store is asynchronous and the entrypoint is not, so the launcher keeps
one event loop in a background thread (``BlobPortal``) and the store open on it for
the whole run; the entrypoint's ``checkpoint`` calls block on it like a function.

Every refusal is a ``CovenantError`` whose message is the reason the run failed, for
the ``failed`` progress line; none of them quotes the artifact store's URL, and a
repository URL only without its credentials.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import re
import subprocess
import threading
from collections.abc import Coroutine, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from covenant.blobs import BlobStore, open_blobs
from covenant.errors import CovenantError
from covenant.training.executors.protocol import DatasetInput
from covenant.training.record import redact_url
from covenant.training.sdk import PROFILE_MEDIA_TYPE, PROFILE_OUTPUT

__all__ = ["BlobPortal", "checkout", "fetch_dataset", "fetch_verified", "upload_outputs"]

T = TypeVar("T")
COMMIT = re.compile(r"[0-9a-f]{40}")
_GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true", "LC_ALL": "C"}


class BlobPortal:
    """The artifact store, open on an event loop in a daemon thread, called from
    synchronous code with ``call``."""

    def __init__(self, url: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="covenant-blobs", daemon=True
        )
        self._url = url
        self._store: BlobStore | None = None

    def __enter__(self) -> Self:
        self._thread.start()
        try:
            self._store = self.call(self._open())
        except BaseException:
            self._stop()
            raise
        return self

    async def _open(self) -> BlobStore:
        store = open_blobs(self._url)
        return await store.__aenter__()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self._store is not None:
                self.call(self._store.aclose())
            self.call(self._loop.shutdown_default_executor())
        finally:
            self._stop()

    def _stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    @property
    def store(self) -> BlobStore:
        assert self._store is not None, "use BlobPortal in a with block"
        return self._store

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the portal's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def put_bytes(self, data: bytes) -> str:
        """Store ``data``; its artifact id."""
        stored = self.call(
            self.store.put(source=io.BytesIO(data), media_type="application/octet-stream")
        )
        return stored.artifact_id

    def get_bytes(self, artifact_id: str) -> bytes:
        """All the bytes stored at ``artifact_id`` (for checkpoints, which fit in memory)."""

        async def read() -> bytes:
            chunks = [chunk async for chunk in await self.store.open(artifact_id)]
            return b"".join(chunks)

        return self.call(read())


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ) | _GIT_ENV
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def checkout(repo: str, commit: str, dest: Path) -> str:
    """Check ``repo`` out into ``dest`` at exactly ``commit``; the resolved HEAD.

    Only that one commit is fetched (``--depth 1``), so a branch moving on, or a
    force-push, cannot change what runs.

    Raises:
        CovenantError: the commit is not 40 lowercase hex, git cannot fetch it, or
            HEAD is anything else after the checkout.
    """
    if COMMIT.fullmatch(commit) is None:
        raise CovenantError(f"code_commit {commit!r} is not a full 40-hex commit id")
    shown = redact_url(repo)
    dest.mkdir(parents=True)
    steps = (
        (["init", "-q"], "git init failed"),
        (
            ["fetch", "-q", "--depth", "1", "--", repo, commit],
            f"cannot fetch {commit} from {shown}",
        ),
        (["checkout", "-q", "--detach", "FETCH_HEAD"], f"cannot check out {commit}"),
    )
    for args, what in steps:
        done = _git(args, dest)
        if done.returncode != 0:
            detail = _last_line(done.stderr).replace(repo, shown)
            raise CovenantError(f"{what}: {detail}")
    head = _git(["rev-parse", "HEAD"], dest).stdout.strip()
    if head != commit:
        raise CovenantError(f"checked out {head or 'nothing'}, not the commit asked for, {commit}")
    return head


def _safe_name(name: str) -> str:
    if not name or name in (".", "..") or "/" in name or "\0" in name or "\\" in name:
        raise CovenantError(f"dataset name {name!r} cannot be a file name")
    return name


def fetch_dataset(portal: BlobPortal, dataset: DatasetInput, data_dir: Path) -> Path:
    """Stream ``dataset`` into ``data_dir/<name>``, hashing as it is written.

    Raises:
        CovenantError: naming the dataset and both checksums when the bytes are not
            the ones the registry recorded (the file is removed), or when the store
            has no such artifact.
    """
    return portal.call(fetch_verified(portal.store, dataset, data_dir))


async def fetch_verified(store: BlobStore, dataset: DatasetInput, data_dir: Path) -> Path:
    """``fetch_dataset`` for callers already on an event loop (the evaluation worker):
    the same streaming, hashing and refusals, from an open ``store``."""
    path = data_dir / _safe_name(dataset.name)

    async def copy() -> str:
        hasher = hashlib.sha256()
        chunks = await store.open(dataset.artifact_id)
        file = await asyncio.to_thread(path.open, "xb")
        try:
            async for chunk in chunks:
                hasher.update(chunk)
                await asyncio.to_thread(file.write, chunk)
        finally:
            await asyncio.to_thread(file.close)
        return f"sha256:{hasher.hexdigest()}"

    await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
    try:
        actual = await copy()
    except CovenantError as exc:
        raise CovenantError(
            f"dataset {dataset.name!r}: {type(exc).__name__}: {exc}", retriable=exc.retriable
        ) from exc
    if actual != dataset.checksum:
        path.unlink(missing_ok=True)
        raise CovenantError(
            f"dataset {dataset.name!r}: fetched bytes have checksum {actual}, but the "
            f"registry recorded {dataset.checksum}; refusing to use them"
        )
    return path


def upload_outputs(portal: BlobPortal, output_dir: Path) -> Mapping[str, str]:
    """Store every regular file under ``output_dir``; relative posix path → artifact
    id, in sorted order. Symlinks are not followed (they could point anywhere). The
    drift profile (``PROFILE_OUTPUT``) is stored as what it is, the rest as bytes."""
    outputs: dict[str, str] = {}
    files = sorted(
        (p for p in output_dir.rglob("*") if p.is_file() and not p.is_symlink()),
        key=lambda p: p.relative_to(output_dir).as_posix(),
    )
    for path in files:
        name = path.relative_to(output_dir).as_posix()
        media_type = PROFILE_MEDIA_TYPE if name == PROFILE_OUTPUT else "application/octet-stream"
        with path.open("rb") as source:
            stored = portal.call(portal.store.put(source=source, media_type=media_type))
        outputs[name] = stored.artifact_id
    return outputs
