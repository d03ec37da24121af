"""``covenant signer keygen`` as a process: it makes a key on the token and prints its id;
what it cannot do is one error line, never a traceback or the PIN."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from covenant.signing.pkcs11 import Pkcs11Signer
from covenant.testing._process import free_port
from covenant.testing.softhsm import SoftHsm
from covenant.testing.tls import TestPki


def _keygen(hsm: SoftHsm, label: str, pin_source: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "covenant", "signer", "keygen", "--module", str(hsm.module),
         "--token", hsm.token, "--pin-source", pin_source, "--label", label],
        env={**os.environ, **hsm.env()},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip


async def test_keygen_prints_the_key_id_of_a_key_the_signer_opens(softhsm: SoftHsm) -> None:
    where = softhsm.key()
    done = _keygen(softhsm, where.key, where.pin_source)
    assert done.returncode == 0, done.stderr
    key_id = done.stdout.strip()
    assert re.fullmatch(r"ed25519:[0-9a-f]{16}", key_id)
    async with Pkcs11Signer.open(where) as signer:
        assert signer.key_id == key_id
    again = _keygen(softhsm, where.key, where.pin_source)
    assert again.returncode == 1
    assert "exists" in again.stderr


def test_keygen_with_a_wrong_pin_is_one_line_without_the_pin(
    softhsm: SoftHsm, tmp_path: Path
) -> None:
    wrong = tmp_path / "pin"
    wrong.write_text("99999999")
    done = _keygen(softhsm, "never-made", f"file:{wrong}")
    assert done.returncode == 1
    assert "wrong PIN" in done.stderr
    assert "Traceback" not in done.stderr
    assert "99999999" not in done.stderr + done.stdout
    assert softhsm.pin_file.read_text() not in done.stderr + done.stdout


def test_serve_with_a_wrong_pin_stops_at_start(
    softhsm: SoftHsm, signing_pki: TestPki, tmp_path: Path
) -> None:
    wrong = tmp_path / "pin"
    wrong.write_text("99999999")
    done = subprocess.run(
        [sys.executable, "-m", "covenant", "signer", "serve", "--module", str(softhsm.module),
         "--token", softhsm.token, "--pin-source", f"file:{wrong}",
         "--cert", str(signing_pki.server.cert), "--key", str(signing_pki.server.key),
         "--client-ca", str(signing_pki.ca), "--port", str(free_port())],
        env={**os.environ, **softhsm.env()},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "wrong PIN" in done.stderr
    assert "Traceback" not in done.stderr
