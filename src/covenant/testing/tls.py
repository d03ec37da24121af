"""A throwaway certificate authority with a server and client certificates, for mutual TLS
in tests (the signing proxy; any service of ours that checks who calls it).

Made with ``cryptography`` in a folder: nothing to install, nothing trusted outside the
test. Keys are written 0600. Certificates last a day: long enough for a test session,
short enough that a leaked one is useless.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["TestPki", "TlsPair", "write_test_pki"]


@dataclass(frozen=True)
class TlsPair:
    """A certificate and its private key, as PEM files."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class TestPki:
    """The files of one throwaway PKI.

    Attributes:
        ca: the CA certificate both sides trust.
        server: a server certificate for ``localhost`` and ``127.0.0.1``.
        clients: client certificates by common name.
    """

    __test__ = False  # not a pytest test class, whatever its name

    ca: Path
    server: TlsPair
    clients: dict[str, TlsPair]


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Covenant tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))


def _issue(
    folder: Path,
    stem: str,
    subject: str,
    *,
    ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
    usage: x509.ObjectIdentifier,
    hosts: bool = False,
) -> TlsPair:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(ca[0].subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if hosts:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    cert = builder.sign(ca[1], hashes.SHA256())
    pair = TlsPair(cert=folder / f"{stem}.crt", key=folder / f"{stem}.key")
    pair.cert.write_bytes(cert.public_bytes(Encoding.PEM))
    _write_key(pair.key, key)
    return pair


def write_test_pki(
    folder: Path, *, clients: tuple[str, ...] = ("covenant-client",), ca_name: str = "test CA"
) -> TestPki:
    """Make a CA, a loopback server certificate and one client certificate per name.

    Args:
        folder: where the PEM files go (created if missing).
        clients: the client certificates' common names (who the server logs as caller).
        ca_name: the CA's common name; two PKIs with different CAs do not trust each other.
    """
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name(ca_name))
        .issuer_name(_name(ca_name))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path = folder / "ca.crt"
    ca_path.write_bytes(ca_cert.public_bytes(Encoding.PEM))
    ca = (ca_cert, ca_key)
    server = _issue(
        folder, "server", "localhost", ca=ca, usage=ExtendedKeyUsageOID.SERVER_AUTH, hosts=True
    )
    issued = {
        name: _issue(folder, f"client-{i}", name, ca=ca, usage=ExtendedKeyUsageOID.CLIENT_AUTH)
        for i, name in enumerate(clients)
    }
    return TestPki(ca=ca_path, server=server, clients=issued)
