"""Verifying an audit export, side by side with ``sha256sum`` over the same file.

Generates an export of N small records (≈200-byte values: real single-object Avro
``model.register`` commands, each with its own event id), audited by the audit worker's
own decision (``audit_batch``, batches of 1,000, a signed checkpoint every 1,000) with a
throwaway Ed25519 key, no bus. Then, in the same run, times:

  verify      ``verify_file`` (the fast scanner; the exact verifier as a check on a
              smaller slice, so its speed is on record too)
  sha256sum   coreutils over the same file: the floor for "read and hash every byte"
  deflate     the same export with deflate blocks: size and verify time, which decided
              that exports use the null codec

and prints records/s, MB/s and the ratio. Usage:

    .venv/bin/python bench/audit_verify.py [--records N] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from covenant.audit.export import verify_file, write_export
from covenant.audit.state import CheckpointPolicy
from covenant.audit.synthetic import build_log
from covenant.events.base import new_event_id
from covenant.events.contract import default_codec
from covenant.events.registry import RegisterModel
from covenant.signing import LocalKeySigner
from covenant.topics import MODEL_COMMANDS, Topic


def entries(n: int) -> list[tuple[Topic, bytes, bytes]]:
    """N distinct commands. Encoded once and re-stamped with fresh event ids (a UUIDv7
    has a fixed length, so the bytes stay valid Avro): encoding a million pydantic
    models would dominate the run without changing what is measured."""
    codec = default_codec()
    template = RegisterModel.create(
        subject="model:bench:1.0.0",
        actor="bench",
        producer="bench",
        family="bench",
        version="1.0.0",
        code_ref="git@example.com:b.git#0123",
        artifact_id="sha256:" + "ab" * 16,
    )
    encoded = codec.encode(template)
    event_id = template.meta.event_id.encode()
    at = encoded.index(event_id)
    out = []
    for i in range(n):
        value = encoded[:at] + new_event_id().encode() + encoded[at + len(event_id) :]
        out.append((MODEL_COMMANDS, f"model:bench-{i % 64}".encode(), value))
    return out


async def generate(folder: Path, n: int) -> tuple[Path, Path, bytes, int]:
    """The same audited log written twice: null (what ``export`` writes) and deflate."""
    signer = LocalKeySigner.generate(folder / "audit.pem")
    log = await build_log(
        entries(n),
        codec=default_codec(),
        signer=signer,
        batch_size=1000,
        policy=CheckpointPolicy(every=1000, interval_s=float("inf")),
    )
    paths = []
    for codec in ("null", "deflate"):
        path = folder / f"export-{codec}.avro"
        write_export(
            path, log.records, checkpoint=log.last_checkpoint, count=len(log.records), codec=codec
        )
        paths.append(path)
    return paths[0], paths[1], signer.public_key_pem(), len(log.checkpoints)


def timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    n = args.records
    with tempfile.TemporaryDirectory(prefix="covenant-bench-") as tmp:
        made = timed(lambda: asyncio.run(generate(Path(tmp), n)))
        gen_s, (path, deflated, key, checkpoints) = made
        size = path.stat().st_size
        # Warm the page cache once so both contenders read from memory.
        subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)
        verify_s, result = timed(lambda: verify_file(path, key))
        if not result.ok or result.records != n:
            sys.exit(f"verification failed: {result}")
        deflate_s, deflate_result = timed(lambda: verify_file(deflated, key))
        if not deflate_result.ok:
            sys.exit(f"verification of the deflate file failed: {deflate_result}")
        deflated_size = deflated.stat().st_size
        sha_s, _ = timed(
            lambda: subprocess.run(["sha256sum", str(path)], capture_output=True, check=True)
        )
        exact_n = min(n, 50_000)
        exact_path = Path(tmp) / "exact-slice.avro"
        exact_s = 0.0
        if exact_n:
            exact_key = asyncio.run(_slice(exact_path, exact_n))
            exact_s, exact = timed(lambda: verify_file(exact_path, exact_key, fast=False))
            assert exact.ok, exact
    results = {
        "records": n,
        "file_bytes": size,
        "checkpoints": checkpoints,
        "generate_s": round(gen_s, 2),
        "verify_s": round(verify_s, 3),
        "verify_records_per_s": round(n / verify_s),
        "verify_mb_per_s": round(size / verify_s / 1e6, 1),
        "sha256sum_s": round(sha_s, 3),
        "sha256sum_mb_per_s": round(size / sha_s / 1e6, 1),
        "verify_vs_sha256sum": round(verify_s / sha_s, 2),
        "deflate_file_bytes": deflated_size,
        "deflate_verify_s": round(deflate_s, 3),
        "deflate_verify_records_per_s": round(n / deflate_s),
        "exact_verifier_records_per_s": round(exact_n / exact_s) if exact_s else None,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(
        f"export: {n:,} records, {size / 1e6:.1f} MB, {checkpoints:,} checkpoints "
        f"(generated in {gen_s:.1f} s)"
    )
    print(
        f"verify_file  {verify_s:7.3f} s  {n / verify_s:12,.0f} records/s  "
        f"{size / verify_s / 1e6:7.1f} MB/s"
    )
    print(f"sha256sum    {sha_s:7.3f} s  {'':>12}            {size / sha_s / 1e6:7.1f} MB/s")
    print(f"verify takes {verify_s / sha_s:.2f}x the time of sha256sum over the same bytes")
    print(
        f"deflate export: {deflated_size / 1e6:.1f} MB ({deflated_size / size:.0%} of null), "
        f"verified at {n / deflate_s:,.0f} records/s ({deflate_s / verify_s:.2f}x the time)"
    )
    if exact_s:
        rate = exact_n / exact_s
        print(f"exact verifier (the fallback that names discrepancies): {rate:,.0f} records/s")


async def _slice(out: Path, n: int) -> bytes:
    signer = LocalKeySigner.generate(out.with_suffix(".pem"))
    log = await build_log(entries(n), codec=default_codec(), signer=signer, batch_size=1000)
    write_export(out, log.records, checkpoint=log.last_checkpoint, count=len(log.records))
    return signer.public_key_pem()


if __name__ == "__main__":
    main()
