"""A throwaway SoftHSM2 token for tests of PKCS#11 signing.

SoftHSM2 reads ``SOFTHSM2_CONF`` once, at ``C_Initialize``, and python-pkcs11 loads (and
initializes) a module once per process; tokens made after that are not seen by the
process. So a test session makes one :class:`SoftHsm` (one token folder, one token) before
anything opens the module, and each test makes its own keys on that token under distinct
labels. Child processes (the signing proxy in tests) inherit ``SOFTHSM2_CONF`` and see the
same token and keys.

SoftHSM2 (Debian ``softhsm2``) must be installed: a missing one is an error with the
install hint, never a skipped test.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from covenant.errors import CovenantError
from covenant.signing.pkcs11 import Pkcs11Key

__all__ = ["SOFTHSM_MODULE", "SoftHsm", "SoftHsmMissingError", "start_softhsm"]

SOFTHSM_MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")
"""Where Debian's ``softhsm2`` package puts the PKCS#11 module."""


class SoftHsmMissingError(CovenantError, RuntimeError):
    """SoftHSM2 is not installed, or would not make a token; the message says what to do."""


@dataclass(frozen=True)
class SoftHsm:
    """One initialised SoftHSM2 token in a folder.

    Attributes:
        folder: holds ``softhsm2.conf``, ``tokens/`` and ``pin`` (mode 0600).
        conf: the configuration file, to set as ``SOFTHSM2_CONF``.
        token: the token's label.
        pin_file: the user PIN, for ``Pkcs11Key(pin_source=f"file:{pin_file}")``.
        module: the PKCS#11 module path.
    """

    folder: Path
    conf: Path
    token: str
    pin_file: Path
    module: Path = SOFTHSM_MODULE

    def key(self, label: str | None = None) -> Pkcs11Key:
        """Where a key labelled ``label`` (a fresh random label if None) would live."""
        return Pkcs11Key(
            module=self.module,
            token=self.token,
            key=label or f"key-{secrets.token_hex(6)}",
            pin_source=f"file:{self.pin_file}",
        )

    def env(self) -> dict[str, str]:
        """The environment a child process needs to see this token."""
        return {"SOFTHSM2_CONF": str(self.conf)}


def start_softhsm(folder: Path, *, token: str = "covenant-test", set_env: bool = True) -> SoftHsm:
    """Write a SoftHSM2 configuration in ``folder`` and initialise one token there.

    Args:
        folder: an empty folder (a test session's temporary folder).
        token: the token label.
        set_env: set ``SOFTHSM2_CONF`` in this process's environment, which the module
            reads when it is first loaded: do this once per process, before any
            PKCS#11 call.

    Raises:
        SoftHsmMissingError: ``softhsm2-util`` or the module is not installed.
            Also when ``softhsm2-util`` fails (its output is in the message).
    """
    util = shutil.which("softhsm2-util")
    if util is None or not SOFTHSM_MODULE.is_file():
        raise SoftHsmMissingError(
            "SoftHSM2 is not installed (softhsm2-util and "
            f"{SOFTHSM_MODULE}); install it: apt-get install softhsm2"
        )
    tokens = folder / "tokens"
    tokens.mkdir(parents=True, exist_ok=True)
    conf = folder / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    pin, so_pin = secrets.token_hex(8), secrets.token_hex(8)
    pin_file = folder / "pin"
    pin_file.write_text(pin)
    pin_file.chmod(0o600)
    done = subprocess.run(
        [util, "--init-token", "--free", "--label", token, "--pin", pin, "--so-pin", so_pin],
        env={**os.environ, "SOFTHSM2_CONF": str(conf)},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SoftHsmMissingError(f"softhsm2-util --init-token failed: {done.stdout}{done.stderr}")
    if set_env:
        os.environ["SOFTHSM2_CONF"] = str(conf)
    return SoftHsm(folder=folder, conf=conf, token=token, pin_file=pin_file)
