"""The signer port: what Covenant needs from anything that holds a signing key.

Checkpoints of the audit log (and later, promotion attestations) are signed by a key
that Covenant must never hold in plain memory in production: it lives in an HSM or a
cloud KMS. Everything above this module therefore talks to a :class:`Signer`, and the
only thing that changes between a developer laptop and production is which adapter
sits behind it.

Verification, on the other hand, needs only public material, so it is a pure function
here: an auditor can check a signature with a PEM public key and nothing else.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Final, Literal, Protocol, TypeAlias, runtime_checkable

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_public_key,
)

from covenant.errors import CovenantError

__all__ = [
    "ED25519",
    "ED25519_SIGNATURE_SIZE",
    "Algorithm",
    "Custody",
    "SignatureError",
    "Signer",
    "key_id_for",
    "verify_signature",
]

Algorithm: TypeAlias = Literal["ed25519"]
"""Signature algorithms a :class:`Signer` may use. One for now; widened deliberately."""

ED25519: Final[Algorithm] = "ed25519"
"""The algorithm name, also the prefix of every Ed25519 key id."""

ED25519_SIGNATURE_SIZE: Final = 64
"""Length in bytes of an Ed25519 signature (RFC 8032)."""


class Custody(StrEnum):
    """Who holds a signer's private key, as the signer itself declares it.

    The promotion worker refuses ``development`` signatures for staging and production,
    so every adapter must report this honestly: the value is a property of where the
    key lives, never a setting a user can pick.
    """

    DEVELOPMENT = "development"
    """The key is in a file or in this process's memory (``LocalKeySigner``)."""

    HSM = "hsm"
    """The key was generated on a PKCS#11 token and cannot leave it (``Pkcs11Signer``)."""

    KMS = "kms"
    """The key is in a remote key service: a cloud KMS, or Covenant's signing proxy in
    front of an HSM (``ProxySigner``); this process only sends messages to be signed."""


class SignatureError(CovenantError, ValueError):
    """A signature, or the public key it is checked with, is not acceptable.

    A :class:`~covenant.errors.CovenantError` like every error Covenant raises on purpose,
    and never retriable: the same bytes fail the same way every time, so the worker
    runtime dead-letters at once instead of retrying. Still a ``ValueError`` for callers
    that caught it as one.

    Attributes:
        key_id: The id of the key the signature was checked against, so an operator
            can tell a forged signature from one made under a rotated or wrong key;
            None when the public key itself could not be read.
    """

    def __init__(self, message: str, *, key_id: str | None = None) -> None:
        super().__init__(message)
        self.key_id = key_id


@runtime_checkable
class Signer(Protocol):
    """Anything that can sign on Covenant's behalf without handing out its key.

    Implementations: :class:`~covenant.signing.localkey.LocalKeySigner` for
    development; :class:`~covenant.signing.pkcs11.Pkcs11Signer` (a PKCS#11 HSM) and
    :class:`~covenant.signing.proxy.ProxySigner` (the signing proxy) for production.
    """

    @property
    def key_id(self) -> str:
        """Stable id of the signing key, as :func:`key_id_for` derives it.

        Checkpoints record it so verifiers know which public key to use, and so keys
        can rotate without ambiguity.
        """
        ...

    @property
    def algorithm(self) -> Algorithm:
        """The signature algorithm, recorded next to every signature."""
        ...

    @property
    def custody(self) -> Custody:
        """Where the private key lives; promotions to staging and production refuse
        :attr:`Custody.DEVELOPMENT`."""
        ...

    async def sign(self, message: bytes) -> bytes:
        """Sign ``message`` and return the raw signature.

        Async because real signers (HSM, KMS) do I/O; callers must not assume it is
        cheap or local.
        """
        ...

    def public_key_pem(self) -> bytes:
        """Return the public key as a SubjectPublicKeyInfo PEM, for publication."""
        ...


def _load_public_key(public_key_pem: bytes) -> Ed25519PublicKey:
    """Parse a PEM public key, insisting on Ed25519.

    Raises:
        SignatureError: The PEM is unreadable or holds a key of another algorithm.
    """
    try:
        key = load_pem_public_key(public_key_pem)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise SignatureError(f"public key is not a readable PEM public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SignatureError(
            f"public key is {type(key).__name__}, not Ed25519; only Ed25519 is supported"
        )
    return key


def _key_id(key: Ed25519PublicKey) -> str:
    """Return ``ed25519:`` + the first 16 hex digits of SHA-256(raw 32-byte key)."""
    raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return f"{ED25519}:{hashlib.sha256(raw).hexdigest()[:16]}"


def key_id_for(public_key_pem: bytes) -> str:
    """Derive the stable key id of an Ed25519 public key.

    The id hashes the raw 32-byte key rather than the PEM text, so it does not change
    with PEM line wrapping or headers, only with the key itself.

    Args:
        public_key_pem: A SubjectPublicKeyInfo PEM of an Ed25519 public key.

    Returns:
        ``"ed25519:"`` followed by the first 16 hex digits of SHA-256 of the raw key.

    Raises:
        SignatureError: The PEM is unreadable or not an Ed25519 key.
    """
    return _key_id(_load_public_key(public_key_pem))


def verify_signature(*, public_key_pem: bytes, message: bytes, signature: bytes) -> None:
    """Check that ``signature`` over ``message`` was made by ``public_key_pem``'s key.

    Needs nothing but public material, so auditors can run it anywhere.

    Args:
        public_key_pem: SubjectPublicKeyInfo PEM of the Ed25519 key that should have
            signed.
        message: The exact bytes that were signed.
        signature: The raw 64-byte Ed25519 signature.

    Raises:
        SignatureError: The signature does not verify; the message and ``key_id``
            attribute name the key it was checked against.
    """
    key = _load_public_key(public_key_pem)
    key_id = _key_id(key)
    if len(signature) != ED25519_SIGNATURE_SIZE:
        raise SignatureError(
            f"signature is {len(signature)} bytes, not the {ED25519_SIGNATURE_SIZE} of an "
            f"Ed25519 signature; checked against key {key_id}",
            key_id=key_id,
        )
    try:
        key.verify(signature, message)
    except InvalidSignature:
        raise SignatureError(
            f"signature does not verify under key {key_id}: wrong key or altered message",
            key_id=key_id,
        ) from None
