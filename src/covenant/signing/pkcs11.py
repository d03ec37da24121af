"""An Ed25519 signer whose private key was generated on, and never leaves, a PKCS#11 token.

The key pair is made on the token (``CKM_EC_EDWARDS_KEY_PAIR_GEN``) with the private half
``SENSITIVE`` and not ``EXTRACTABLE``, so no one, Covenant included, can read it back;
signing sends the message to the token (``CKM_EDDSA``). Tested against SoftHSM2; any
PKCS#11 v3 module with EdDSA (a network HSM's client library, a YubiHSM) fits.

Two facts of PKCS#11 shape this module:

* Login is per process, not per session (PKCS#11 v3 §5.6): a second ``C_Login`` fails with
  ``CKR_USER_ALREADY_LOGGED_IN``, and ``C_Logout`` on any session logs every session out.
  So signers over the same token in one process share one logged-in session, counted
  (``covenant.signing._pkcs11_sessions``); the last one to close logs out.
* A session is not safe for concurrent use, and python-pkcs11 is synchronous: each
  operation runs in a worker thread (``asyncio.to_thread``) under the session's lock.

The PIN comes from an environment variable or a file (``pin_source``), is read when the
signer opens, and is never logged or shown in a ``repr``, event or error message.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11 import exceptions as p11

from covenant.errors import ConfigError
from covenant.signing._pkcs11_sessions import Sessions as _Sessions
from covenant.signing._pkcs11_sessions import Shared as _Shared
from covenant.signing.protocol import ED25519, Algorithm, Custody, key_id_for

__all__ = ["ED25519_EC_PARAMS", "Pkcs11Key", "Pkcs11Signer"]

ED25519_EC_PARAMS = bytes.fromhex("06032b6570")
"""DER of the OID 1.3.101.112 (id-Ed25519), the ``CKA_EC_PARAMS`` of an Ed25519 key."""

_MAX_PIN_FILE_BYTES = 4096


@dataclass(frozen=True)
class Pkcs11Key:
    """Where a signing key lives on a token, and where its PIN comes from.

    Attributes:
        module: path of the PKCS#11 module (e.g. ``/usr/lib/softhsm/libsofthsm2.so``).
        token: the token's label.
        key: the label of the key pair on the token.
        pin_source: ``env:NAME`` (an environment variable) or ``file:/path`` (a file
            holding the PIN; one trailing newline is ignored). The PIN itself is never
            part of this object, so printing the configuration cannot reveal it.
    """

    module: Path
    token: str
    key: str
    pin_source: str
    env: Mapping[str, str] | None = field(default=None, repr=False, compare=False)

    def read_pin(self) -> str:
        """Read the PIN from its source.

        Raises:
            ConfigError: the source is malformed, unset, or unreadable (the message names
                the source, never the PIN).
        """
        kind, _, where = self.pin_source.partition(":")
        if kind == "env" and where:
            value = (os.environ if self.env is None else self.env).get(where)
            if not value:
                _fail(f"the PKCS#11 PIN variable {where} is not set; export it or use file:")
            return value
        if kind == "file" and where:
            try:
                data = Path(where).read_bytes()[: _MAX_PIN_FILE_BYTES + 1]
            except OSError as exc:
                _fail(f"cannot read the PKCS#11 PIN file {where}: {exc.strerror}")
            pin = data.decode("utf-8", "replace").removesuffix("\n").removesuffix("\r")
            if not pin or len(data) > _MAX_PIN_FILE_BYTES:
                _fail(f"the PKCS#11 PIN file {where} is empty or not a PIN file")
            return pin
        _fail(f"PIN source {self.pin_source!r} must be env:NAME or file:/path")


def _fail(message: str) -> NoReturn:
    """Raise ConfigError(message) without chaining the library exception."""
    raise ConfigError(message) from None


def _public_pem(public_key: Any, where: Pkcs11Key) -> bytes:
    point = bytes(public_key[Attribute.EC_POINT])
    # CKA_EC_POINT of an Edwards key is a DER OCTET STRING (04 20 || 32 raw bytes).
    if len(point) != 34 or point[:2] != b"\x04\x20":
        _fail(f"key {where.key!r} on token {where.token!r} is not an Ed25519 key")
    raw = Ed25519PublicKey.from_public_bytes(point[2:])
    return raw.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def _find_pair(session: Any, where: Pkcs11Key) -> tuple[Any, bytes]:
    """The private key object labelled ``where.key`` and its public key's PEM."""

    def one(kind: ObjectClass) -> Any:
        found = list(session.get_objects({Attribute.CLASS: kind, Attribute.LABEL: where.key}))
        if len(found) != 1:
            what = "no" if not found else f"{len(found)}"
            _fail(
                f"{what} {kind.name.lower().replace('_', ' ')} labelled {where.key!r} on "
                f"token {where.token!r}; create one with `covenant signer keygen`"
            )
        return found[0]

    private, public = one(ObjectClass.PRIVATE_KEY), one(ObjectClass.PUBLIC_KEY)
    if private[Attribute.KEY_TYPE] != KeyType.EC_EDWARDS or (
        bytes(public[Attribute.EC_PARAMS]) != ED25519_EC_PARAMS
    ):
        _fail(f"key {where.key!r} on token {where.token!r} is not an Ed25519 key")
    return private, _public_pem(public, where)


class Pkcs11Signer:
    """Ed25519 signatures made by a PKCS#11 token; custody ``hsm``.

    Open one with :meth:`open` (an async context manager) over a key made by
    :meth:`generate` or by the HSM's own tools. Signing is serialized on the token
    session; many tasks may call :meth:`sign` at once.
    """

    __slots__ = ("_closed", "_key_id", "_pem", "_private", "_shared", "_where")

    def __init__(self, where: Pkcs11Key, shared: _Shared, private: Any, pem: bytes) -> None:
        """Use :meth:`open`; this wires an already-opened key."""
        self._where, self._shared, self._private, self._pem = where, shared, private, pem
        self._key_id = key_id_for(pem)
        self._closed = False

    @classmethod
    @asynccontextmanager
    async def open(cls, where: Pkcs11Key) -> AsyncIterator[Pkcs11Signer]:
        """Log in to the token and find the key labelled ``where.key``.

        Raises:
            ConfigError: the module, token, PIN or key cannot be used; the message says
                which and what to do.
        """
        signer = await asyncio.to_thread(cls._open_sync, where)
        try:
            yield signer
        finally:
            await signer.aclose()

    @classmethod
    def _open_sync(cls, where: Pkcs11Key) -> Pkcs11Signer:
        shared = _Sessions.acquire(where, where.read_pin())
        try:
            with shared.lock:
                private, pem = _find_pair(shared.session, where)
        except BaseException:
            _Sessions.release(where, shared)
            raise
        return cls(where, shared, private, pem)

    @classmethod
    async def check_login(cls, where: Pkcs11Key) -> None:
        """Log in to the token and out again: the module, token and PIN work.

        Raises:
            ConfigError: as :meth:`open`, except that no key is looked for.
        """

        def check() -> None:
            _Sessions.release(where, _Sessions.acquire(where, where.read_pin()))

        await asyncio.to_thread(check)

    @classmethod
    async def generate(cls, where: Pkcs11Key) -> str:
        """Generate a new Ed25519 key pair on the token, labelled ``where.key``.

        Returns:
            The new key's id.

        Raises:
            ConfigError: the token cannot be used, or a key with that label exists
                already (two keys under one label would make the label ambiguous).
        """
        return await asyncio.to_thread(cls._generate_sync, where)

    @classmethod
    def _generate_sync(cls, where: Pkcs11Key) -> str:
        shared = _Sessions.acquire(where, where.read_pin())
        try:
            with shared.lock:
                session = shared.session
                if list(session.get_objects({Attribute.LABEL: where.key})):
                    _fail(f"a key labelled {where.key!r} exists on token {where.token!r}")
                common = {Attribute.TOKEN: True, Attribute.LABEL: where.key}
                try:
                    public, _ = session.generate_keypair(
                        KeyType.EC_EDWARDS,
                        mechanism=Mechanism.EC_EDWARDS_KEY_PAIR_GEN,
                        store=True,
                        public_template={
                            **common,
                            Attribute.EC_PARAMS: ED25519_EC_PARAMS,
                            Attribute.VERIFY: True,
                        },
                        private_template={
                            **common,
                            Attribute.PRIVATE: True,
                            Attribute.SENSITIVE: True,
                            Attribute.EXTRACTABLE: False,
                            Attribute.SIGN: True,
                        },
                    )
                except p11.PKCS11Error as exc:
                    _fail(f"token {where.token!r} cannot make Ed25519 keys: {type(exc).__name__}")
                return key_id_for(_public_pem(public, where))
        finally:
            _Sessions.release(where, shared)

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
        """Always ``hsm``: the private key was made on the token and cannot leave it."""
        return Custody.HSM

    @property
    def where(self) -> Pkcs11Key:
        """The module, token and key label (not the PIN) this signer uses."""
        return self._where

    async def sign(self, message: bytes) -> bytes:
        """Have the token sign ``message`` (``CKM_EDDSA``) and return the 64 bytes.

        Raises:
            ConfigError: the signer is closed.
        """
        return await asyncio.to_thread(self._sign_sync, message)

    def _sign_sync(self, message: bytes) -> bytes:
        with self._shared.lock:
            if self._closed:
                _fail(f"PKCS#11 signer for key {self._key_id} is closed")
            try:
                return bytes(self._private.sign(message, mechanism=Mechanism.EDDSA))
            except p11.PKCS11Error as exc:
                raise ConfigError(
                    f"token {self._where.token!r} refused to sign: {type(exc).__name__}",
                    retriable=isinstance(exc, p11.DeviceError | p11.SessionClosed),
                ) from None

    def public_key_pem(self) -> bytes:
        """Return the public key as a SubjectPublicKeyInfo PEM."""
        return self._pem

    async def aclose(self) -> None:
        """Release this signer's share of the token session; closing twice is harmless."""
        with self._shared.lock:
            if self._closed:
                return
            self._closed = True
        await asyncio.to_thread(_Sessions.release, self._where, self._shared)

    def __repr__(self) -> str:
        """Identify the key without the PIN."""
        return (
            f"Pkcs11Signer(key_id={self._key_id!r}, token={self._where.token!r}, "
            f"key={self._where.key!r})"
        )
