"""The signing proxy run as a real local process, for tests and benchmarks.

It is ``covenant signer serve`` over a SoftHSM2 token (``covenant.testing.softhsm``) with
a throwaway PKI (``covenant.testing.tls``): the test process talks to it over mutual TLS
exactly as a worker would, and sees the same token's keys (SoftHSM2 keeps them in files
that both processes read).
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import Any

from covenant.testing._process import free_port
from covenant.testing._service import LocalService
from covenant.testing.softhsm import SoftHsm
from covenant.testing.tls import TestPki

__all__ = ["LocalSigningProxy"]


class LocalSigningProxy(LocalService):
    """Start and stop ``covenant signer serve`` on a loopback port.

    Args:
        hsm: the token whose keys it serves (its ``SOFTHSM2_CONF`` is passed on).
        pki: the server certificate it presents and the CA whose clients it accepts.
        workdir: where its log goes (``signing-proxy.log``).
    """

    name = "the signing proxy"
    start_timeout_s = 30.0
    stop_timeout_s = 10.0

    def __init__(self, hsm: SoftHsm, pki: TestPki, *, workdir: Path) -> None:
        super().__init__()
        self.hsm, self.pki, self.workdir = hsm, pki, workdir
        self.port = free_port()

    def url_for(self, label: str) -> str:
        """The ``COVENANT_SIGNER`` URL of the key labelled ``label``."""
        return f"https://127.0.0.1:{self.port}/v1/keys/{label}"

    @property
    def output_file(self) -> Path:
        return self.workdir / "signing-proxy.log"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "covenant",
            "signer",
            "serve",
            "--module",
            str(self.hsm.module),
            "--token",
            self.hsm.token,
            "--pin-source",
            f"file:{self.hsm.pin_file}",
            "--cert",
            str(self.pki.server.cert),
            "--key",
            str(self.pki.server.key),
            "--client-ca",
            str(self.pki.ca),
            "--port",
            str(self.port),
        ]

    def popen_options(self) -> dict[str, Any]:
        return {"env": {**os.environ, **self.hsm.env()}}

    def is_ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False
