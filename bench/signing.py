"""Signatures per second: in-process ``cryptography`` Ed25519, SoftHSM2 through
``Pkcs11Signer``, and the signing proxy (``ProxySigner`` over mutual TLS to a real
``covenant signer serve`` process over the same token), side by side in one run.

In-process ``cryptography`` is the reference a user would otherwise pick (and what the
development ``LocalKeySigner`` does); the question is what keeping the key in an HSM, and
then behind a proxy, costs. Each path signs the same 200-byte message (the size of an
audit checkpoint's text), first one at a time (latency-bound), then with 32 signatures
in flight (what the conformance suite and a busy worker do). Usage:

    .venv/bin/python bench/signing.py [--seconds S] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from covenant.signing.pkcs11 import Pkcs11Signer
from covenant.signing.proxy import ProxySigner
from covenant.testing.signing_proxy import LocalSigningProxy
from covenant.testing.softhsm import start_softhsm
from covenant.testing.tls import write_test_pki

MESSAGE = b"c" * 200


async def rate(sign: Callable[[bytes], Awaitable[bytes]], seconds: float, inflight: int) -> float:
    """Signatures per second with ``inflight`` signatures outstanding, for ``seconds``."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def lane() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await sign(MESSAGE)
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(inflight)))
    return done / (time.perf_counter() - start)


async def measure(seconds: float) -> dict[str, Any]:
    key = Ed25519PrivateKey.generate()

    async def in_process(message: bytes) -> bytes:
        return key.sign(message)

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="covenant-bench-signing-") as tmp:
        folder = Path(tmp)
        hsm = start_softhsm(folder / "hsm")
        pki = write_test_pki(folder / "pki", clients=("bench",))
        where = hsm.key("bench")
        await Pkcs11Signer.generate(where)
        with LocalSigningProxy(hsm, pki, workdir=folder) as proxy:
            client = pki.clients["bench"]
            async with (
                Pkcs11Signer.open(where) as token,
                ProxySigner.open(
                    proxy.url_for("bench"), cert=client.cert, key=client.key, ca=pki.ca
                ) as proxied,
            ):
                for inflight in (1, 32):
                    for name, sign in (
                        ("cryptography", in_process),
                        ("pkcs11", token.sign),
                        ("proxy", proxied.sign),
                    ):
                        await rate(sign, min(0.5, seconds), inflight)  # warm up
                        results[f"{name}@{inflight}"] = await rate(sign, seconds, inflight)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = asyncio.run(measure(args.seconds))
    results["python"] = platform.python_version()
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for inflight in (1, 32):
        ref = results[f"cryptography@{inflight}"]
        print(f"{inflight} in flight:")
        for name in ("cryptography", "pkcs11", "proxy"):
            value = results[f"{name}@{inflight}"]
            print(f"  {name:<13} {value:>10,.0f} signatures/s   {ref / value:8.1f}x slower")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
