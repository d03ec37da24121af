"""An Ed25519 signer whose private key sits in a local file. For development only.

Production signs with an HSM or KMS signer behind the same
:class:`~covenant.signing.protocol.Signer` protocol (those adapters come later), so
that the private key never exists in Covenant's memory. This adapter exists so that the
audit log and its tests can be run on a laptop; it still treats the key file the way a
careful operator would: created 0600, never overwritten, refused when other users can
read it.

POSIX only: the permission checks read Unix mode bits.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import NoReturn

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)

from covenant.errors import ConfigError
from covenant.signing.protocol import ED25519, Algorithm, Custody, key_id_for

__all__ = ["LocalKeySigner"]

_KEY_FILE_MODE = 0o600
_MAX_KEY_FILE_BYTES = 64 * 1024  # a PKCS#8 Ed25519 PEM is ~120 bytes; refuse absurd files


class LocalKeySigner:
    """Ed25519 signer over a PKCS#8 PEM private key file. Development only.

    Production uses HSM/KMS signers behind the same ``Signer`` protocol (to come), so
    nothing outside this adapter depends on where the key lives.

    The private key never leaves the object: there is no accessor that returns it, the
    ``repr`` shows only the key id and the file path, and the object refuses to be
    pickled or copied (which would serialize the key somewhere else).

    Example:
        >>> signer = LocalKeySigner.generate("dev-signing-key.pem")  # doctest: +SKIP
        >>> signature = await signer.sign(b"checkpoint")  # doctest: +SKIP
    """

    __slots__ = ("__private_key", "_key_id", "_path", "_public_key_pem")

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Load the private key from ``path``.

        Args:
            path: A PKCS#8 PEM file holding an unencrypted Ed25519 private key, with
                no permissions for group or others (e.g. mode 0600 or 0400).

        Raises:
            ConfigError: The key file is missing, unreadable, not a regular file,
                accessible by group or others (the message says to ``chmod 600`` it),
                encrypted, or not an Ed25519 PKCS#8 PEM private key.
        """
        self._path = Path(path)
        pem = _read_private_key_file(self._path)
        try:
            key = load_pem_private_key(pem, password=None)
        except TypeError as exc:  # cryptography's signal for "encrypted, no password"
            _fail(f"key file {self._path} cannot be used: {exc}; use an unencrypted key")
        except (ValueError, UnsupportedAlgorithm) as exc:
            _fail(f"key file {self._path} is not a PKCS#8 PEM private key: {exc}")
        if not isinstance(key, Ed25519PrivateKey):
            _fail(
                f"key file {self._path} holds a {type(key).__name__}; "
                "LocalKeySigner needs an Ed25519 key"
            )
        # Name-mangled so that even attribute completion on the object does not offer it.
        self.__private_key = key
        self._public_key_pem = key.public_key().public_bytes(
            Encoding.PEM, PublicFormat.SubjectPublicKeyInfo
        )
        self._key_id = key_id_for(self._public_key_pem)

    @classmethod
    def generate(cls, path: str | os.PathLike[str]) -> LocalKeySigner:
        """Create a new Ed25519 key in a new file at ``path`` (mode 0600) and load it.

        Refuses to overwrite anything already at ``path``: losing a signing key makes
        every checkpoint it signed unverifiable for whoever only kept the key file.

        Args:
            path: Where to create the PKCS#8 PEM key file; the directory must exist.

        Returns:
            A signer over the new key.

        Raises:
            ConfigError: Something already exists at ``path``, or the file cannot be
                created or written.
        """
        target = Path(path)
        pem = Ed25519PrivateKey.generate().private_bytes(
            Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
        )
        try:
            # O_EXCL: never overwrite, and never follow a planted symlink.
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _KEY_FILE_MODE)
        except FileExistsError:
            _fail(f"key file {target} already exists; refusing to overwrite a signing key")
        except OSError as exc:
            _fail(f"cannot create key file {target}: {exc.strerror}")
        except ValueError as exc:  # a NUL byte in the path, which no file name can hold
            _fail(f"cannot create key file {str(target)!r}: {exc}")
        try:
            os.fchmod(fd, _KEY_FILE_MODE)  # exactly 0600, whatever the umask
            view = memoryview(pem)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)  # a key that vanishes in a crash orphans what it signed
        except OSError as exc:
            target.unlink(missing_ok=True)
            _fail(f"cannot write key file {target}: {exc.strerror}")
        finally:
            os.close(fd)
        return cls(target)

    @property
    def key_id(self) -> str:
        """``ed25519:`` + 16 hex digits of SHA-256 of the raw public key."""
        return self._key_id

    @property
    def algorithm(self) -> Algorithm:
        """Always ``"ed25519"``."""
        return ED25519

    @property
    def custody(self) -> Custody:
        """Always ``development``: the key is in a file and in this process."""
        return Custody.DEVELOPMENT

    @property
    def path(self) -> Path:
        """The key file this signer was loaded from (the path, not its contents)."""
        return self._path

    async def sign(self, message: bytes) -> bytes:
        """Return the 64-byte Ed25519 signature of ``message``.

        Computed inline: an Ed25519 signature takes tens of microseconds, less than a
        thread hand-off would.

        Args:
            message: The exact bytes to sign.
        """
        return self.__private_key.sign(message)

    def public_key_pem(self) -> bytes:
        """Return the public key as a SubjectPublicKeyInfo PEM."""
        return self._public_key_pem

    def __repr__(self) -> str:
        """Identify the key without revealing it."""
        return f"LocalKeySigner(key_id={self._key_id!r}, path={str(self._path)!r})"

    def __reduce__(self) -> NoReturn:
        """Refuse pickling and copying: either would carry the private key elsewhere."""
        raise TypeError("LocalKeySigner cannot be pickled or copied; its key stays in it")


def _fail(message: str) -> NoReturn:
    """Raise ConfigError(message) without chaining the library exception."""
    raise ConfigError(message) from None


def _read_private_key_file(path: Path) -> bytes:
    """Read a key file after checking, on the open descriptor, that it is private.

    Checking ``fstat`` of the descriptor actually read (not ``stat`` of the path) means
    the file cannot be swapped between the check and the read.

    Raises:
        ConfigError: The file is missing, unreadable, not regular, too large, or
            accessible by group or others.
    """
    try:
        # O_NONBLOCK so that a FIFO planted at the path cannot hang the loader.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        _fail(f"cannot open key file {path}: {exc.strerror}")
    except ValueError as exc:  # a NUL byte in the path, which no file name can hold
        _fail(f"cannot open key file {str(path)!r}: {exc}")
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            _fail(f"key file {path} is not a regular file")
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            _fail(
                f"key file {path} has mode {mode:04o}, so group or others can access the "
                f"private key; run `chmod 600 {path}` and try again"
            )
        data = bytearray()
        while len(data) <= _MAX_KEY_FILE_BYTES:
            chunk = os.read(fd, _MAX_KEY_FILE_BYTES + 1)
            if not chunk:
                break
            data += chunk
    except OSError as exc:
        _fail(f"cannot read key file {path}: {exc.strerror}")
    finally:
        os.close(fd)
    if len(data) > _MAX_KEY_FILE_BYTES:
        _fail(f"key file {path} is larger than {_MAX_KEY_FILE_BYTES} bytes; not a key file")
    return bytes(data)
