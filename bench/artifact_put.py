"""Side-by-side benchmark of storing a large artifact against just hashing it.

In one run, on one file of random bytes in a temporary folder (page-cached, as a
freshly written training output is), best of N alternating runs of:
  sha256sum     coreutils ``sha256sum FILE``: the reference, it only reads and hashes
  put (file)    ``FolderBlobStore.put`` of the open file: reads, hashes, writes,
                fsyncs and publishes into a fresh store on the same filesystem
  put (stream)  the same bytes as an async iterator of 1 MiB chunks, as an upload
                arrives (not part of the ratio)
  openssl       ``openssl dgst -sha256 FILE`` where installed: a second reference,
                since a distribution's sha256sum may lack the CPU's SHA instructions
                that OpenSSL (and so Python's hashlib) use
The ratio is put (file) MiB/s over sha256sum MiB/s; the target is at least 0.9.

Usage: .venv/bin/python bench/artifact_put.py [--size-mib 1024] [--runs 3] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from covenant.blobs import FolderBlobStore

MIB = 1024 * 1024
TARGET = 0.9


def make_file(path: Path, size_mib: int) -> None:
    with path.open("wb") as out:
        for _ in range(size_mib):
            out.write(os.urandom(MIB))


def time_command(*command: str) -> tuple[float, str]:
    """Seconds the command took, and the hex digest it printed."""
    start = time.perf_counter()
    out = subprocess.run(command, check=True, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    words = out.stdout.replace("=", " ").split()
    return elapsed, next(w for w in words if len(w) == 64)


async def stream(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as file:
        while chunk := await asyncio.to_thread(file.read, MIB):
            yield chunk


async def time_put(path: Path, root: Path, *, as_stream: bool) -> tuple[float, str]:
    shutil.rmtree(root, ignore_errors=True)  # a fresh store: no deduplication
    async with FolderBlobStore(root) as store:
        start = time.perf_counter()
        if as_stream:
            stored = await store.put(source=stream(path), media_type="application/octet-stream")
        else:
            with path.open("rb") as file:
                stored = await store.put(source=file, media_type="application/octet-stream")
        elapsed = time.perf_counter() - start
    shutil.rmtree(root, ignore_errors=True)
    return elapsed, stored.sha256


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "sha256sum": subprocess.run(
            ["sha256sum", "--version"], check=True, capture_output=True, text=True
        ).stdout.splitlines()[0],
    }


async def run(size_mib: int, runs: int, folder: str | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(dir=folder, prefix="covenant-bench-") as tmp:
        work = Path(tmp)
        data = work / "artifact.bin"
        make_file(data, size_mib)
        references = {"sha256sum": ("sha256sum", str(data))}
        if shutil.which("openssl"):
            references["openssl"] = ("openssl", "dgst", "-sha256", str(data))
        times: dict[str, list[float]] = {name: [] for name in references}
        times |= {"put_file": [], "put_stream": []}
        digests = set()
        for _ in range(runs):
            for name, command in references.items():
                elapsed, digest = time_command(*command)
                times[name].append(elapsed)
                digests.add(digest)
            for name, as_stream in (("put_file", False), ("put_stream", True)):
                elapsed, digest = await time_put(data, work / "store", as_stream=as_stream)
                times[name].append(elapsed)
                digests.add(digest)
        if len(digests) != 1:
            raise RuntimeError(f"the runs disagree on the digest: {digests}")
    best = {name: min(values) for name, values in times.items()}
    rate = {name: size_mib / seconds for name, seconds in best.items()}
    return {
        "machine": machine(),
        "size_mib": size_mib,
        "runs": runs,
        "seconds": times,
        "best_mib_per_s": rate,
        "ratio_put_file_to_sha256sum": rate["put_file"] / rate["sha256sum"],
        "target": TARGET,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", default=None, help="folder for the file and the store")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = asyncio.run(run(args.size_mib, args.runs, args.dir))
    if args.json:
        print(json.dumps(results, indent=2))
        return
    rate = results["best_mib_per_s"]
    print(f"machine: {results['machine']}")
    print(f"file: {args.size_mib} MiB, best of {args.runs}")
    print(f"  sha256sum      {rate['sha256sum']:8.0f} MiB/s")
    print(f"  put (file)     {rate['put_file']:8.0f} MiB/s")
    print(f"  put (stream)   {rate['put_stream']:8.0f} MiB/s")
    if "openssl" in rate:
        print(f"  openssl dgst   {rate['openssl']:8.0f} MiB/s")
    ratio = results["ratio_put_file_to_sha256sum"]
    verdict = "meets" if ratio >= TARGET else "misses"
    print(f"  ratio put/sha256sum {ratio:.2f} ({verdict} the {TARGET} target)")


if __name__ == "__main__":
    main()
