"""Which signer Covenant uses, chosen by one setting: ``COVENANT_SIGNER``.

The forms, each naming where the private key lives:

* empty (the default): the development key ``<home>/keys/audit-ed25519.pem``, created on
  first use (custody ``development``; promotions to staging and production refuse it).
* ``file:/path/key.pem``: an existing Ed25519 PKCS#8 PEM key file (``development``).
* ``pkcs11:token=<label>;object=<key label>?module-path=/path/module.so&pin-source=file:/path``:
  a key on a PKCS#11 token (``hsm``), as an RFC 7512 PKCS#11 URI. The PIN comes from the
  file ``pin-source`` names, or from an environment variable named by ``x-pin-env=NAME``
  (a vendor attribute, RFC 7512 §2.3); ``pin-value`` is refused, since a URI is logged
  and shown where a PIN must never be.
* ``https://host:port/v1/keys/<label>``: Covenant's signing proxy (``kms``), reached over
  mutual TLS with ``COVENANT_SIGNER_CERT``, ``COVENANT_SIGNER_KEY`` and ``COVENANT_SIGNER_CA``.

A cloud KMS joins by an adapter behind the same ``Signer`` port (and one more form here),
or by running the signing proxy in front of the HSM that backs it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn
from urllib.parse import parse_qs, unquote, urlsplit

from covenant.errors import ConfigError
from covenant.settings import Settings
from covenant.signing.localkey import LocalKeySigner
from covenant.signing.protocol import Signer

if TYPE_CHECKING:
    from covenant.signing.pkcs11 import Pkcs11Key

__all__ = ["FORMS", "open_signer", "parse_pkcs11_uri"]

FORMS = (
    "empty (the development key under COVENANT_HOME), file:/path/key.pem, "
    "pkcs11:token=T;object=K?module-path=/path/module.so&pin-source=file:/path/pin "
    "(or x-pin-env=NAME instead of pin-source), or https://host:port/v1/keys/<label> "
    "with COVENANT_SIGNER_CERT, COVENANT_SIGNER_KEY and COVENANT_SIGNER_CA"
)
"""The accepted forms of ``COVENANT_SIGNER``, as error messages list them."""


def _bad(value: str, why: str) -> NoReturn:
    # The value is shown: no accepted form carries a secret (pin-value is refused, and
    # the message below does not repeat a refused one).
    raise ConfigError(f"COVENANT_SIGNER={value!r}: {why}; accepted forms: {FORMS}") from None


@asynccontextmanager
async def open_signer(settings: Settings) -> AsyncIterator[Signer]:
    """Open the signer ``settings.signer`` names, closed when the context exits.

    Args:
        settings: ``signer`` and, for the proxy, ``signer_cert``, ``signer_key`` and
            ``signer_ca``; ``home`` for the default development key.

    Raises:
        ConfigError: the value has none of the accepted forms (the message names the
            setting and lists them), or the signer it names cannot be opened.
    """
    value = settings.signer.strip()
    if not value:
        from covenant.audit.worker import audit_signer

        yield audit_signer(settings)
    elif value.startswith("file:"):
        path = unquote(urlsplit(value).path) if value.startswith("file://") else value[5:]
        if not path:
            _bad(value, "file: needs a key file path")
        yield _local_key(path)
    elif value.startswith("pkcs11:"):
        try:
            from covenant.signing.pkcs11 import Pkcs11Signer
        except ImportError:
            _bad(value, "pkcs11: needs python-pkcs11: pip install 'covenant[hsm]'")
        async with Pkcs11Signer.open(parse_pkcs11_uri(value)) as signer:
            yield signer
    elif value.startswith("https://"):
        from covenant.signing.proxy import ProxySigner

        missing = [
            name
            for name, path in (
                ("COVENANT_SIGNER_CERT", settings.signer_cert),
                ("COVENANT_SIGNER_KEY", settings.signer_key),
                ("COVENANT_SIGNER_CA", settings.signer_ca),
            )
            if path is None
        ]
        if missing or settings.signer_cert is None or settings.signer_key is None:
            _bad(value, f"the signing proxy needs {', '.join(missing)} (mutual TLS)")
        assert settings.signer_ca is not None
        async with ProxySigner.open(
            value, cert=settings.signer_cert, key=settings.signer_key, ca=settings.signer_ca
        ) as proxied:
            yield proxied
    else:
        _bad(value, "not a form Covenant knows")


def _local_key(path: str) -> LocalKeySigner:
    """The key file at ``path`` (``~`` expanded); a small file read, done inline."""
    return LocalKeySigner(os.path.expanduser(path))


def parse_pkcs11_uri(value: str) -> Pkcs11Key:
    """Parse an RFC 7512 ``pkcs11:`` URI into a ``Pkcs11Key`` (imported lazily).

    Raises:
        ConfigError: a required attribute is missing, or the PIN is in the URI.
    """
    from covenant.signing import pkcs11  # the hsm extra, imported only when used

    body = value.removeprefix("pkcs11:")
    path_part, _, query_part = body.partition("?")
    path: dict[str, str] = {}
    for item in filter(None, path_part.split(";")):
        name, sep, text = item.partition("=")
        if not sep:
            _bad(value, f"pkcs11: attribute {name!r} has no value")
        path[name] = unquote(text)
    query = {k: v[-1] for k, v in parse_qs(query_part, keep_blank_values=True).items()}
    if "pin-value" in query:
        raise ConfigError(
            "COVENANT_SIGNER: a pkcs11: URI must not carry pin-value (it would show the PIN "
            "wherever the setting is printed); use pin-source=file:/path or x-pin-env=NAME"
        )
    needs = {"token": path.get("token"), "object": path.get("object")}
    needs["module-path"] = query.get("module-path")
    if absent := [name for name, v in needs.items() if not v]:
        _bad(value, f"pkcs11: URI lacks {', '.join(absent)}")
    if "pin-source" in query:
        source = query["pin-source"]
        pin_source = f"file:{source.removeprefix('file://').removeprefix('file:')}"
    elif "x-pin-env" in query:
        pin_source = f"env:{query['x-pin-env']}"
    else:
        _bad(value, "pkcs11: URI lacks pin-source=file:/path (or x-pin-env=NAME)")
    return pkcs11.Pkcs11Key(
        module=Path(str(needs["module-path"])),
        token=str(needs["token"]),
        key=str(needs["object"]),
        pin_source=pin_source,
    )
