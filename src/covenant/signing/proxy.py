"""A signer that asks Covenant's signing proxy to sign, over mutual TLS; custody ``kms``.

The spec says "signing uses KMS/HSM via signing proxy; no private keys stored in app":
the process that runs workers holds only a client certificate, and the key stays in the
HSM behind the proxy (``covenant signer serve``, :mod:`covenant.gateway.signing_proxy`).
The proxy knows who asked (the client certificate's subject) and logs it with every
signature.

To use a real cloud KMS instead, either write an adapter behind the same ``Signer`` port
(``key_id``, ``algorithm``, ``custody = Custody.KMS``, async ``sign``, ``public_key_pem``;
add it to the conformance suite's ``HARNESSES``), or run this proxy in front of the HSM
that backs the KMS, through its PKCS#11 module.

Wire format (JSON): ``GET /v1/keys/<label>`` answers ``{"key_id", "algorithm",
"public_key_pem"}``; ``POST /v1/keys/<label>/sign`` takes ``{"message": base64}`` and
answers ``{"key_id", "signature": base64}``.
"""

from __future__ import annotations

import base64
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import httpx

from covenant.errors import ConfigError, CovenantError
from covenant.signing.protocol import ED25519, Algorithm, Custody, SignatureError, key_id_for

__all__ = ["ProxySigner"]

_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


def _fail(message: str) -> NoReturn:
    raise ConfigError(message) from None


def _tls(*, cert: Path, key: Path, ca: Path) -> ssl.SSLContext:
    """A client context that trusts only ``ca`` and presents ``cert``."""
    try:
        context = ssl.create_default_context(cafile=str(ca))
    except (OSError, ssl.SSLError) as exc:
        _fail(f"cannot read the signing proxy's CA {ca} (COVENANT_SIGNER_CA): {exc}")
    try:
        context.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as exc:
        _fail(
            f"cannot load the client certificate {cert} with key {key} "
            f"(COVENANT_SIGNER_CERT, COVENANT_SIGNER_KEY): {type(exc).__name__}"
        )
    return context


class ProxySigner:
    """Ed25519 signatures made by the signing proxy for one key label."""

    __slots__ = ("_client", "_closed", "_key_id", "_pem", "_url")

    def __init__(self, url: str, client: httpx.AsyncClient, key_id: str, pem: bytes) -> None:
        """Use :meth:`open`; this wires an already-checked key."""
        self._url, self._client, self._key_id, self._pem = url, client, key_id, pem
        self._closed = False

    @classmethod
    @asynccontextmanager
    async def open(cls, url: str, *, cert: Path, key: Path, ca: Path) -> AsyncIterator[ProxySigner]:
        """Connect to the proxy at ``url`` (``https://host:port/v1/keys/<label>``) and
        fetch the key's public half, checking that its id matches.

        Raises:
            ConfigError: the URL, the TLS files or the key label cannot work, or the proxy
                refused this client's certificate.
        """
        parts = urlsplit(url)
        label = parts.path.removeprefix("/v1/keys/")
        if parts.scheme != "https" or not parts.hostname or "/" in label or not label:
            _fail(f"signing proxy URL {url!r} must be https://host:port/v1/keys/<label>")
        client = httpx.AsyncClient(verify=_tls(cert=cert, key=key, ca=ca), timeout=_TIMEOUT)
        signer: ProxySigner | None = None
        try:
            body = await _call(client, "GET", url)
            pem = str(body.get("public_key_pem", "")).encode()
            try:
                key_id = key_id_for(pem)
            except SignatureError:
                _fail(f"the signing proxy at {url} answered no Ed25519 public key")
            if body.get("key_id") != key_id or body.get("algorithm") != ED25519:
                _fail(f"the signing proxy at {url} names key {body.get('key_id')!r}, not {key_id}")
            signer = cls(url, client, key_id, pem)
            yield signer
        finally:
            if signer is not None:
                await signer.aclose()
            else:
                await client.aclose()

    @property
    def key_id(self) -> str:
        """The key's id, checked against its public key at open."""
        return self._key_id

    @property
    def algorithm(self) -> Algorithm:
        """Always ``"ed25519"``."""
        return ED25519

    @property
    def custody(self) -> Custody:
        """Always ``kms``: the key is behind the signing proxy (in its HSM)."""
        return Custody.KMS

    @property
    def url(self) -> str:
        """The proxy's URL for this key."""
        return self._url

    async def sign(self, message: bytes) -> bytes:
        """Have the proxy sign ``message``.

        Raises:
            CovenantError: the proxy is unreachable (retriable) or refused (not).
        """
        if self._closed:
            _fail(f"signer for key {self._key_id} at {self._url} is closed")
        body = await _call(
            self._client,
            "POST",
            f"{self._url}/sign",
            json={"message": base64.b64encode(message).decode()},
        )
        if body.get("key_id") != self._key_id:
            raise CovenantError(f"the signing proxy signed with {body.get('key_id')!r}")
        try:
            return base64.b64decode(str(body["signature"]), validate=True)
        except (KeyError, ValueError):
            raise CovenantError(f"the signing proxy at {self._url} answered no signature") from None

    def public_key_pem(self) -> bytes:
        """Return the public key as a SubjectPublicKeyInfo PEM."""
        return self._pem

    async def aclose(self) -> None:
        """Close the connection pool; closing twice is harmless."""
        if not self._closed:
            self._closed = True
            await self._client.aclose()

    def __repr__(self) -> str:
        return f"ProxySigner(key_id={self._key_id!r}, url={self._url!r})"


async def _call(client: httpx.AsyncClient, method: str, url: str, **kw: Any) -> dict[str, Any]:
    """One request; library errors become ours, with ``retriable`` for the transient."""
    try:
        response = await client.request(method, url, **kw)
    except httpx.ConnectError as exc:
        if "CERTIFICATE_VERIFY_FAILED" in str(exc):
            _fail(f"the signing proxy at {url} has a certificate COVENANT_SIGNER_CA does not trust")
        raise CovenantError(f"cannot reach the signing proxy at {url}", retriable=True) from None
    except (httpx.ReadError, httpx.RemoteProtocolError, httpx.WriteError):
        _fail(
            f"the signing proxy at {url} closed the connection: is the client certificate one "
            "it trusts (COVENANT_SIGNER_CERT)?"
        )
    except httpx.HTTPError as exc:
        raise CovenantError(f"signing proxy {url}: {type(exc).__name__}", retriable=True) from None
    if response.status_code == 404:
        _fail(f"the signing proxy has no key at {url}; create it with `covenant signer keygen`")
    if response.status_code != 200:
        raise CovenantError(
            f"the signing proxy at {url} answered {response.status_code}",
            retriable=response.status_code >= 500,
        )
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        _fail(f"the signing proxy at {url} answered something that is not a JSON object")
    return body
