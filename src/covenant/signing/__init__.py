"""Signing for Covenant: the ``Signer`` port, signature verification, and adapters.

Callers depend on :class:`Signer` and :func:`verify_signature` only; which adapter holds
the key (a local file in development, an HSM or KMS in production) is wiring.

The adapters that need optional packages are imported from their own modules, so that
importing this package needs none of them: ``covenant.signing.pkcs11`` (the ``hsm``
extra, python-pkcs11) and ``covenant.signing.proxy``.
"""

from covenant.signing.localkey import LocalKeySigner
from covenant.signing.protocol import (
    Algorithm,
    Custody,
    SignatureError,
    Signer,
    key_id_for,
    verify_signature,
)

__all__ = [
    "Algorithm",
    "Custody",
    "LocalKeySigner",
    "SignatureError",
    "Signer",
    "key_id_for",
    "verify_signature",
]
