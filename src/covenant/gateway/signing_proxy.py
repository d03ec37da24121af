"""Covenant's signing proxy: an HTTPS service in front of a PKCS#11 HSM, over mutual TLS.

The application processes hold no private key: they send the bytes to sign to this
service (:class:`~covenant.signing.proxy.ProxySigner`), which holds the only logged-in
session on the token. Only clients with a certificate from the configured CA get a TLS
connection at all; every signature is logged with the caller's certificate subject, the
key id and the message's SHA-256 (never the message, never the PIN).

For a real cloud KMS, either write a ``Signer`` adapter for it, or run this proxy in front
of the HSM behind it (through its PKCS#11 module); see ``covenant.signing.proxy``.

It lives beside the gateway, not in ``signing/``, because it is HTTP presentation: the
domain folders import no web framework (``tests/unit/test_layout.py``). What it signs
with is the ``Pkcs11Signer`` adapter, unchanged.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
import ssl
from contextlib import AsyncExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel
from uvicorn.protocols.http.h11_impl import H11Protocol

from covenant.errors import ConfigError
from covenant.signing.pkcs11 import Pkcs11Key, Pkcs11Signer

__all__ = ["MAX_MESSAGE_BYTES", "create_app", "serve"]

log = logging.getLogger("covenant.signing.proxy")

MAX_MESSAGE_BYTES = 4 * 1024 * 1024
"""The largest message the proxy signs (checkpoints are a few hundred bytes)."""

_MAX_BODY = MAX_MESSAGE_BYTES * 4 // 3 + 1024  # base64 in a small JSON object


class SignRequest(BaseModel):
    """``POST /v1/keys/<label>/sign``: the message, base64."""

    message: str


def create_app(token: Pkcs11Key, peers: dict[tuple[str, int], str]) -> FastAPI:
    """The ASGI app, signing with keys on ``token``'s token (``token.key`` is ignored).

    Args:
        token: module, token and PIN source; keys are found by the label in the URL and
            kept open for the life of the app.
        peers: the client-certificate subject of each open connection by peer address,
            filled by the TLS protocol :func:`serve` installs (empty elsewhere).
    """
    stack = AsyncExitStack()
    signers: dict[str, Pkcs11Signer] = {}
    opening = asyncio.Lock()

    async def signer(label: str) -> Pkcs11Signer:
        async with opening:
            if label not in signers:
                try:
                    signers[label] = await stack.enter_async_context(
                        Pkcs11Signer.open(replace(token, key=label))
                    )
                except ConfigError as exc:
                    if "labelled" in str(exc):
                        raise HTTPException(404, f"no key {label!r}") from None
                    log.error("cannot open key %r: %s", label, exc)  # no PIN in it
                    raise HTTPException(503, "the proxy cannot use its token") from None
            return signers[label]

    app = FastAPI(title="Covenant signing proxy", docs_url=None, redoc_url=None)
    app.router.add_event_handler("shutdown", stack.aclose)

    def caller(request: Request) -> str:
        client = request.client
        return peers.get((client.host, client.port), "?") if client else "?"

    @app.get("/v1/keys/{label}")
    async def public_key(label: str) -> dict[str, str]:
        opened = await signer(label)
        return {
            "key_id": opened.key_id,
            "algorithm": opened.algorithm,
            "public_key_pem": opened.public_key_pem().decode(),
        }

    @app.post("/v1/keys/{label}/sign")
    async def sign(label: str, body: SignRequest, request: Request) -> dict[str, str]:
        try:
            message = base64.b64decode(body.message, validate=True)
        except (binascii.Error, ValueError):
            raise HTTPException(422, "message is not base64") from None
        if len(message) > MAX_MESSAGE_BYTES:
            raise HTTPException(413, f"message over {MAX_MESSAGE_BYTES} bytes")
        opened = await signer(label)
        signature = await opened.sign(message)
        log.info(
            "signed for %s with %s (%s) message sha256=%s",
            caller(request),
            opened.key_id,
            label,
            hashlib.sha256(message).hexdigest(),
        )
        return {"key_id": opened.key_id, "signature": base64.b64encode(signature).decode()}

    return app


class _BodyCap:
    """Refuse a body whose declared length is over the cap before anything reads it.

    A plain ASGI wrapper: Starlette's ``BaseHTTPMiddleware`` costs a task per request,
    which was a fifth of the proxy's CPU per signature.
    """

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            length = dict(scope["headers"]).get(b"content-length")
            if length is not None and (not length.isdigit() or int(length) > self.limit):
                await send({"type": "http.response.start", "status": 413, "headers": []})
                await send({"type": "http.response.body", "body": b"body too large"})
                return
        await self.app(scope, receive, send)


def _protocol(peers: dict[tuple[str, int], str]) -> type[H11Protocol]:
    """uvicorn's HTTP/1.1 protocol, noting each connection's client-certificate subject.

    uvicorn gives the app no TLS details, so the subject is recorded here by peer
    address when the connection opens and dropped when it closes.
    """

    class PeerNamingProtocol(H11Protocol):
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            ssl_object = transport.get_extra_info("ssl_object")
            peer = transport.get_extra_info("peername")
            cert = ssl_object.getpeercert() if ssl_object is not None else None
            if cert and peer:
                subject = ",".join(f"{k}={v}" for rdn in cert["subject"] for k, v in rdn)
                peers[(peer[0], peer[1])] = subject

        def connection_lost(self, exc: Exception | None) -> None:
            peer = self.transport.get_extra_info("peername") if self.transport else None
            if peer:
                peers.pop((peer[0], peer[1]), None)
            super().connection_lost(exc)

    return PeerNamingProtocol


async def serve(
    token: Pkcs11Key,
    *,
    host: str,
    port: int,
    cert: Path,
    key: Path,
    client_ca: Path,
) -> None:
    """Serve the proxy until interrupted (SIGINT/SIGTERM), requiring client certificates.

    Raises:
        ConfigError: a TLS file or the token cannot be used.
    """
    for name, path in (("--cert", cert), ("--key", key), ("--client-ca", client_ca)):
        if not path.is_file():
            raise ConfigError(f"signing proxy {name} {path} does not exist")
    await Pkcs11Signer.check_login(token)  # a wrong PIN fails now, not at a request
    peers: dict[tuple[str, int], str] = {}
    config = uvicorn.Config(
        _BodyCap(create_app(token, peers), _MAX_BODY),
        host=host,
        port=port,
        http=_protocol(peers),
        ssl_certfile=str(cert),
        ssl_keyfile=str(key),
        ssl_ca_certs=str(client_ca),
        ssl_cert_reqs=ssl.CERT_REQUIRED,
        log_level="info",
        access_log=False,
        lifespan="on",
    )
    await uvicorn.Server(config).serve()
