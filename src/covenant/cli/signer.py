"""``covenant signer``: make a signing key on a PKCS#11 token, and serve the signing proxy.

``keygen`` generates an Ed25519 key pair on the token (the private key never leaves it)
and prints its key id. ``serve`` runs the signing proxy (``covenant.gateway.signing_proxy``)
in front of that token over mutual TLS; workers then set
``COVENANT_SIGNER=https://host:port/v1/keys/<label>`` with their client certificate.
The PIN is read from a file or an environment variable, never from the command line
(which ``ps`` shows to every user).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from covenant.cli._support import fail, out
from covenant.errors import CovenantError

if TYPE_CHECKING:
    from covenant.signing.pkcs11 import Pkcs11Key

signer_app = typer.Typer(
    help="Signing keys on a PKCS#11 HSM, and the signing proxy in front of it.",
    no_args_is_help=True,
)

ModuleOption = Annotated[
    Path,
    typer.Option("--module", help="the PKCS#11 module (.so) of the HSM"),
]
TokenOption = Annotated[str, typer.Option("--token", help="the token's label")]
PinOption = Annotated[
    str,
    typer.Option(
        "--pin-source",
        help="where the user PIN is: file:/path or env:NAME (never the PIN itself)",
    ),
]


def _where(module: Path, token: str, key: str, pin_source: str) -> Pkcs11Key:
    try:
        from covenant.signing import pkcs11
    except ImportError:
        raise fail("the PKCS#11 signer needs python-pkcs11: pip install 'covenant[hsm]'") from None
    return pkcs11.Pkcs11Key(module=module, token=token, key=key, pin_source=pin_source)


@signer_app.command()
def keygen(
    module: ModuleOption,
    token: TokenOption,
    pin_source: PinOption,
    label: Annotated[str, typer.Option("--label", help="the new key pair's label")],
) -> None:
    """Generate an Ed25519 key pair on the token and print its key id."""
    from covenant.signing.pkcs11 import Pkcs11Signer

    try:
        key_id = asyncio.run(Pkcs11Signer.generate(_where(module, token, label, pin_source)))
    except CovenantError as exc:
        raise fail(str(exc)) from None
    out.print(key_id, highlight=False)


@signer_app.command()
def serve(
    module: ModuleOption,
    token: TokenOption,
    pin_source: PinOption,
    cert: Annotated[Path, typer.Option("--cert", help="the server's TLS certificate (PEM)")],
    key: Annotated[Path, typer.Option("--key", help="the server's TLS private key (PEM)")],
    client_ca: Annotated[
        Path, typer.Option("--client-ca", help="the CA whose client certificates may sign")
    ],
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8760,
) -> None:
    """Serve the signing proxy for the token's keys, requiring client certificates."""
    from covenant.gateway.signing_proxy import serve as serve_proxy

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", force=True)
    where = _where(module, token, "", pin_source)
    try:
        asyncio.run(
            serve_proxy(where, host=host, port=port, cert=cert, key=key, client_ca=client_ca)
        )
    except CovenantError as exc:
        raise fail(str(exc)) from None
