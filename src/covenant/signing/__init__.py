"""Signing for Covenant: the ``Signer`` port, signature verification, and adapters.

Callers depend on :class:`Signer` and :func:`verify_signature` only; which adapter holds
the key (a local file in development, an HSM or KMS in production) is wiring.
"""

from covenant.signing.localkey import LocalKeySigner
from covenant.signing.protocol import (
    Algorithm,
    SignatureError,
    Signer,
    key_id_for,
    verify_signature,
)

__all__ = [
    "Algorithm",
    "LocalKeySigner",
    "SignatureError",
    "Signer",
    "key_id_for",
    "verify_signature",
]
