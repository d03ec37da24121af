"""The signing proxy as a process: who may connect, what it logs, what it refuses.

The conformance suite checks ``ProxySigner`` as a ``Signer``; these tests talk to the
proxy (a real ``covenant signer serve`` over SoftHSM2) with plain httpx, to show that the
TLS layer itself turns away a client without a trusted certificate, and that the log
names the caller but never the message.
"""

from __future__ import annotations

import base64
import hashlib
import os
import ssl
from pathlib import Path

import httpx
import pytest

from covenant.gateway.signing_proxy import MAX_MESSAGE_BYTES
from covenant.signing import Custody, verify_signature
from covenant.signing.pkcs11 import Pkcs11Signer
from covenant.signing.proxy import ProxySigner
from covenant.testing.signing_proxy import LocalSigningProxy
from covenant.testing.tls import write_test_pki


def _context(
    proxy: LocalSigningProxy, cert: Path | None = None, key: Path | None = None
) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(proxy.pki.ca))
    if cert is not None and key is not None:
        context.load_cert_chain(str(cert), str(key))
    return context


async def _label(proxy: LocalSigningProxy) -> str:
    where = proxy.hsm.key()
    await Pkcs11Signer.generate(where)
    return where.key


async def test_a_client_without_a_certificate_is_refused(signing_proxy: LocalSigningProxy) -> None:
    label = await _label(signing_proxy)
    async with httpx.AsyncClient(verify=_context(signing_proxy)) as client:
        with pytest.raises(httpx.TransportError):
            await client.get(signing_proxy.url_for(label))


async def test_a_client_certificate_from_another_ca_is_refused(
    signing_proxy: LocalSigningProxy, tmp_path: Path
) -> None:
    label = await _label(signing_proxy)
    mallory = write_test_pki(tmp_path, clients=("mallory",)).clients["mallory"]
    context = _context(signing_proxy, mallory.cert, mallory.key)
    async with httpx.AsyncClient(verify=context) as client:
        with pytest.raises(httpx.TransportError):
            await client.get(signing_proxy.url_for(label))


async def test_signs_and_logs_the_caller_not_the_message(signing_proxy: LocalSigningProxy) -> None:
    label = await _label(signing_proxy)
    client = signing_proxy.pki.clients["covenant-audit"]
    message = b"secret-" + os.urandom(16).hex().encode()
    async with ProxySigner.open(
        signing_proxy.url_for(label), cert=client.cert, key=client.key, ca=signing_proxy.pki.ca
    ) as signer:
        assert signer.custody is Custody.KMS
        signature = await signer.sign(message)
        verify_signature(
            public_key_pem=signer.public_key_pem(), message=message, signature=signature
        )
        key_id = signer.key_id
    log = signing_proxy.output_file.read_text()
    line = next(x for x in log.splitlines() if hashlib.sha256(message).hexdigest() in x)
    assert "commonName=covenant-audit" in line
    assert key_id in line
    assert message.decode() not in log
    assert base64.b64encode(message).decode() not in log
    assert signing_proxy.hsm.pin_file.read_text() not in log


async def test_refuses_a_message_over_the_cap(signing_proxy: LocalSigningProxy) -> None:
    label = await _label(signing_proxy)
    client = signing_proxy.pki.clients["covenant-audit"]
    context = _context(signing_proxy, client.cert, client.key)
    big = base64.b64encode(bytes(MAX_MESSAGE_BYTES + 1)).decode()
    async with httpx.AsyncClient(verify=context, timeout=30) as http:
        response = await http.post(f"{signing_proxy.url_for(label)}/sign", json={"message": big})
        assert response.status_code == 413
        missing = await http.get(signing_proxy.url_for("no-such-key"))
        assert missing.status_code == 404
