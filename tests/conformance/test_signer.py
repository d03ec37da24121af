"""The Signer contract, stated once and run against every adapter.

``covenant.signing.protocol`` promises what any holder of a signing key gives Covenant: a
key id derived from the public key, an ``algorithm``, an async ``sign`` that returns a raw
signature, and the public key as a SubjectPublicKeyInfo PEM, never the private key. The
tests below check exactly that, through the port only, the way trio's
``testing/_check_streams.py`` checks every stream: an adapter joins by describing, in a
:class:`SignerHarness`, how to make a key, open a signer over it and misconfigure it, and
by one line in :data:`HARNESSES`. Today that is the local key file; the PKCS#11 HSM and
KMS signers join the same list.

Signatures are checked twice: with Covenant's :func:`~covenant.signing.verify_signature`,
which auditors run, and with an implementation that shares nothing with Covenant's
code: the PEM is unpacked here by hand (RFC 7468 armour, the RFC 8410 SubjectPublicKeyInfo
layout) and the signature checked with ``cryptography``'s ``Ed25519PublicKey``, so a
mistake in our key handling cannot make a bad signature look good to both.
"""

from __future__ import annotations

import abc
import asyncio
import base64
import hashlib
import inspect
import os
import pickle
import re
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, get_args

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)

from covenant.errors import CovenantError
from covenant.signing import (
    Algorithm,
    Custody,
    LocalKeySigner,
    SignatureError,
    Signer,
    key_id_for,
    verify_signature,
)
from covenant.signing.pkcs11 import Pkcs11Signer
from covenant.signing.proxy import ProxySigner
from covenant.testing.signing_proxy import LocalSigningProxy
from covenant.testing.softhsm import SoftHsm
from covenant.testing.tls import write_test_pki

MESSAGE = b"checkpoint\nsize=42\nroot=abcd\n"

# RFC 8410 §4: an Ed25519 SubjectPublicKeyInfo is this 12-byte DER header (SEQUENCE,
# AlgorithmIdentifier with OID 1.3.101.112 and no parameters, BIT STRING of 33 bytes)
# followed by the raw 32-byte public key.
ED25519_SPKI_HEADER = bytes.fromhex("302a300506032b6570032100")
ED25519_SIGNATURE_SIZE = 64


# --------------------------------------------------------------------------------------
# What an adapter provides to be tested
# --------------------------------------------------------------------------------------


class SignerHarness(abc.ABC):
    """How the suite makes, opens and breaks signers of one adapter.

    A key is named by an opaque reference (a file path, a token label, a KMS key name) so
    that the suite can open a second signer over the same key and check that it is the
    same key to the outside world.
    """

    def prepare(self, request: pytest.FixtureRequest) -> None:
        """Reach the session's services (a SoftHSM2 token, a signing proxy) before use."""
        del request  # most adapters need none

    @abc.abstractmethod
    async def new_key(self, workdir: Path) -> str:
        """Create a new signing key and return the reference that opens it.

        Args:
            workdir: A fresh folder the harness may use for files.
        """

    @abc.abstractmethod
    def open(self, ref: str) -> AbstractAsyncContextManager[Signer]:
        """Open a signer over the key ``ref``, released when the context exits."""

    @abc.abstractmethod
    def secret(self, ref: str) -> bytes | None:
        """The private key's raw bytes as the harness knows them, or None if it cannot.

        An HSM or KMS never reveals the key, so its harness returns None and the suite
        checks the public surface by type and text only; a harness that can read the key
        lets the suite also search for the bytes themselves.
        """

    @abc.abstractmethod
    def misconfigurations(
        self, workdir: Path
    ) -> dict[str, Callable[[], AbstractAsyncContextManager[Signer]]]:
        """Ways to open this adapter that cannot work, by a name for the report.

        Each, when entered, must fail with a :class:`~covenant.errors.CovenantError`:
        the operator gets our error with a message, never a library's.
        """


class LocalKeyFileHarness(SignerHarness):
    """:class:`~covenant.signing.LocalKeySigner` over PKCS#8 PEM files in a folder."""

    async def new_key(self, workdir: Path) -> str:
        path = workdir / f"signing-key-{os.urandom(4).hex()}.pem"
        LocalKeySigner.generate(path)
        return str(path)

    @asynccontextmanager
    async def open(self, ref: str) -> AsyncIterator[Signer]:
        yield LocalKeySigner(ref)

    def secret(self, ref: str) -> bytes | None:
        key = load_pem_private_key(Path(ref).read_bytes(), password=None)
        assert isinstance(key, Ed25519PrivateKey)
        return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())

    def misconfigurations(
        self, workdir: Path
    ) -> dict[str, Callable[[], AbstractAsyncContextManager[Signer]]]:
        def file(name: str, content: bytes, mode: int = 0o600) -> str:
            path = workdir / name
            path.write_bytes(content)
            path.chmod(mode)
            return str(path)

        ed25519 = Ed25519PrivateKey.generate()
        refs = {
            "missing file": str(workdir / "missing.pem"),
            "a directory": str(workdir),
            "a NUL byte in the path": str(workdir / "bad\0name.pem"),
            "readable by group": file(
                "shared.pem",
                ed25519.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()),
                0o640,
            ),
            "empty file": file("empty.pem", b""),
            "not PEM": file("garbage.pem", b"hello"),
            "a public key": file(
                "public.pem",
                ed25519.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo),
            ),
            "an EC key": file(
                "ec.pem",
                ec.generate_private_key(ec.SECP256R1()).private_bytes(
                    Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
                ),
            ),
            "an encrypted key": file(
                "encrypted.pem",
                ed25519.private_bytes(
                    Encoding.PEM, PrivateFormat.PKCS8, BestAvailableEncryption(b"secret")
                ),
            ),
            "a huge file": file("huge.pem", b"x" * 100_000),
        }
        return {name: (lambda ref=ref: self.open(ref)) for name, ref in refs.items()}


class Pkcs11Harness(SignerHarness):
    """:class:`~covenant.signing.Pkcs11Signer` over keys on the session's SoftHSM2 token;
    a key reference is its label."""

    hsm: SoftHsm | None = None

    def prepare(self, request: pytest.FixtureRequest) -> None:
        self.hsm = request.getfixturevalue("softhsm")

    def _token(self) -> SoftHsm:
        assert self.hsm is not None, "prepare() first"
        return self.hsm

    async def new_key(self, workdir: Path) -> str:
        where = self._token().key()
        await Pkcs11Signer.generate(where)
        return where.key

    def open(self, ref: str) -> AbstractAsyncContextManager[Signer]:
        return Pkcs11Signer.open(self._token().key(ref))

    def secret(self, ref: str) -> bytes | None:
        return None  # the token never reveals it; test_pkcs11_token asserts so

    def misconfigurations(
        self, workdir: Path
    ) -> dict[str, Callable[[], AbstractAsyncContextManager[Signer]]]:
        hsm = self._token()
        good = hsm.key("no-such-key")
        wrong_pin = workdir / "wrong-pin"
        wrong_pin.write_text("00000000")
        cases = {
            "missing module file": replace(good, module=workdir / "libnone.so"),
            "not a module": replace(good, module=hsm.conf),
            "unknown token": replace(good, token="no-such-token"),
            "wrong PIN": replace(good, pin_source=f"file:{wrong_pin}"),
            "missing PIN file": replace(good, pin_source=f"file:{workdir / 'none'}"),
            "unset PIN variable": replace(good, pin_source="env:COVENANT_TEST_NO_SUCH_PIN"),
            "bad PIN source": replace(good, pin_source="1234"),
            "missing key label": good,
            "not an Ed25519 key": hsm.key(_ec_key_on(hsm)),
        }
        return {name: (lambda w=w: Pkcs11Signer.open(w)) for name, w in cases.items()}


def _ec_key_on(hsm: SoftHsm) -> str:
    """Make a P-256 key pair on the token (with python-pkcs11 directly); its label."""
    import pkcs11

    label = f"p256-{os.urandom(4).hex()}"
    token = pkcs11.lib(str(hsm.module)).get_token(token_label=hsm.token)
    with token.open(user_pin=hsm.pin_file.read_text(), rw=True) as session:
        params = session.create_domain_parameters(
            pkcs11.KeyType.EC,
            {pkcs11.Attribute.EC_PARAMS: bytes.fromhex("06082a8648ce3d030107")},
            local=True,
        )
        params.generate_keypair(store=True, label=label)
    return label


class ProxyHarness(SignerHarness):
    """:class:`~covenant.signing.proxy.ProxySigner` through the session's signing proxy
    (a real ``covenant signer serve`` process over the SoftHSM2 token), over mutual TLS;
    a key reference is its label."""

    proxy: LocalSigningProxy | None = None

    def prepare(self, request: pytest.FixtureRequest) -> None:
        self.proxy = request.getfixturevalue("signing_proxy")

    def _proxy(self) -> LocalSigningProxy:
        assert self.proxy is not None, "prepare() first"
        return self.proxy

    async def new_key(self, workdir: Path) -> str:
        where = self._proxy().hsm.key()
        await Pkcs11Signer.generate(where)
        return where.key

    def open(self, ref: str, **tls: Path) -> AbstractAsyncContextManager[Signer]:
        proxy = self._proxy()
        client = proxy.pki.clients["covenant-audit"]
        files = {"cert": client.cert, "key": client.key, "ca": proxy.pki.ca, **tls}
        url = ref if ref.startswith(("https:", "http:")) else proxy.url_for(ref)
        return ProxySigner.open(url, **files)

    def secret(self, ref: str) -> bytes | None:
        return None  # the key is in the proxy's token

    def misconfigurations(
        self, workdir: Path
    ) -> dict[str, Callable[[], AbstractAsyncContextManager[Signer]]]:
        proxy = self._proxy()
        stranger = write_test_pki(workdir / "stranger", clients=("mallory",))
        mallory = stranger.clients["mallory"]
        cases: dict[str, tuple[str, dict[str, Path]]] = {
            "unknown key label": ("no-such-key", {}),
            "plain http": (proxy.url_for("k").replace("https", "http"), {}),
            "not a key URL": (f"https://127.0.0.1:{proxy.port}/v2/other/k/x", {}),
            "missing client certificate file": ("k", {"cert": workdir / "none.crt"}),
            "missing CA file": ("k", {"ca": workdir / "none-ca.crt"}),
            "a proxy the CA does not vouch for": ("k", {"ca": stranger.ca}),
            "a client certificate the proxy does not trust": (
                "k",
                {"cert": mallory.cert, "key": mallory.key},
            ),
        }
        return {name: (lambda c=c: self.open(c[0], **c[1])) for name, c in cases.items()}


HARNESSES = [
    pytest.param(LocalKeyFileHarness(), id="local-key-file"),
    pytest.param(Pkcs11Harness(), id="pkcs11"),
    pytest.param(ProxyHarness(), id="proxy"),
]
"""Every Signer adapter; adding one is adding its harness here."""


# --------------------------------------------------------------------------------------
# Fixtures and the independent verifier
# --------------------------------------------------------------------------------------


@pytest.fixture(params=HARNESSES)
def harness(request: pytest.FixtureRequest) -> SignerHarness:
    value = request.param
    assert isinstance(value, SignerHarness)
    value.prepare(request)
    return value


@pytest.fixture
async def key_ref(harness: SignerHarness, tmp_path: Path) -> str:
    return await harness.new_key(tmp_path)


@pytest.fixture
async def signer(harness: SignerHarness, key_ref: str) -> AsyncIterator[Signer]:
    async with harness.open(key_ref) as opened:
        yield opened


@pytest.fixture
async def other_signer(harness: SignerHarness, tmp_path: Path) -> AsyncIterator[Signer]:
    workdir = tmp_path / "other"
    workdir.mkdir()
    async with harness.open(await harness.new_key(workdir)) as opened:
        yield opened


def raw_public_key(pem: bytes) -> bytes:
    """The 32 raw key bytes of an Ed25519 SPKI PEM, unpacked without Covenant's code.

    Fails the test when the PEM is not exactly the documented form: one ``PUBLIC KEY``
    block (RFC 7468 §13), base64 lines, and the RFC 8410 Ed25519 SubjectPublicKeyInfo.
    """
    text = pem.decode("ascii")
    lines = text.splitlines()
    assert text.endswith("\n"), "the PEM ends with a newline"
    assert lines[0] == "-----BEGIN PUBLIC KEY-----", lines[0]
    assert lines[-1] == "-----END PUBLIC KEY-----", lines[-1]
    der = base64.b64decode("".join(lines[1:-1]), validate=True)
    assert der[: len(ED25519_SPKI_HEADER)] == ED25519_SPKI_HEADER, der.hex()
    assert len(der) == len(ED25519_SPKI_HEADER) + 32, der.hex()
    return der[len(ED25519_SPKI_HEADER) :]


def independently_verifies(pem: bytes, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is a valid Ed25519 signature of ``message`` under ``pem``."""
    key = Ed25519PublicKey.from_public_bytes(raw_public_key(pem))
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def assert_verifies(signer: Signer, message: bytes, signature: bytes) -> None:
    """Both verifiers accept ``signature`` over ``message`` by ``signer``'s key."""
    pem = signer.public_key_pem()
    verify_signature(public_key_pem=pem, message=message, signature=signature)
    assert independently_verifies(pem, message, signature)


def assert_rejected(pem: bytes, key_id: str, message: bytes, signature: bytes) -> None:
    """Both verifiers refuse ``signature``; ours with a SignatureError naming ``key_id``."""
    assert not independently_verifies(pem, message, signature)
    with pytest.raises(SignatureError, match="does not verify under key") as excinfo:
        verify_signature(public_key_pem=pem, message=message, signature=signature)
    assert excinfo.value.key_id == key_id
    assert key_id in str(excinfo.value)


def open_descriptors() -> int:
    """How many file descriptors this process has open (Linux and macOS)."""
    for folder in ("/proc/self/fd", "/dev/fd"):
        if os.path.isdir(folder):
            return len(os.listdir(folder))
    raise AssertionError("no way to count open file descriptors on this system")


# --------------------------------------------------------------------------------------
# Identity: key id, algorithm, public key
# --------------------------------------------------------------------------------------


def test_is_a_signer_with_a_known_algorithm(signer: Signer) -> None:
    assert isinstance(signer, Signer)
    assert isinstance(signer.custody, Custody)
    assert signer.algorithm == "ed25519"
    assert signer.algorithm in get_args(Algorithm)
    # ED25519 is "also the prefix of every Ed25519 key id".
    assert signer.key_id.startswith(f"{signer.algorithm}:")


def test_key_id_is_derived_from_the_public_key(signer: Signer) -> None:
    raw = raw_public_key(signer.public_key_pem())
    assert re.fullmatch(r"ed25519:[0-9a-f]{16}", signer.key_id)
    assert signer.key_id == "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]
    assert signer.key_id == key_id_for(signer.public_key_pem())


async def test_key_id_and_public_key_are_stable_for_one_key(
    harness: SignerHarness, key_ref: str, signer: Signer, other_signer: Signer
) -> None:
    key_id, pem = signer.key_id, signer.public_key_pem()
    assert (signer.key_id, signer.public_key_pem()) == (key_id, pem)
    async with harness.open(key_ref) as reopened:
        assert reopened.key_id == key_id
        assert reopened.public_key_pem() == pem
        # The same key signs the same way whichever instance holds it (Ed25519 is
        # deterministic, RFC 8032 §5.1.6).
        assert await reopened.sign(MESSAGE) == await signer.sign(MESSAGE)
    assert other_signer.key_id != key_id
    assert other_signer.public_key_pem() != pem


def test_public_key_is_an_ed25519_subject_public_key_info_pem(signer: Signer) -> None:
    pem = signer.public_key_pem()
    assert isinstance(pem, bytes)
    raw = raw_public_key(pem)  # the documented form, checked by hand
    assert b"PRIVATE" not in pem
    # And a mainstream parser reads it as the same Ed25519 key.
    parsed = load_pem_public_key(pem)
    assert isinstance(parsed, Ed25519PublicKey)
    assert parsed.public_bytes(Encoding.Raw, PublicFormat.Raw) == raw


# --------------------------------------------------------------------------------------
# Signing
# --------------------------------------------------------------------------------------


async def test_sign_verify_roundtrip(signer: Signer) -> None:
    assert inspect.iscoroutinefunction(signer.sign)
    signature = await signer.sign(MESSAGE)
    assert isinstance(signature, bytes)
    assert len(signature) == ED25519_SIGNATURE_SIZE
    assert_verifies(signer, MESSAGE, signature)
    # Ed25519 is deterministic: the same message gives the same signature.
    assert await signer.sign(MESSAGE) == signature
    empty = await signer.sign(b"")
    assert_verifies(signer, b"", empty)


@pytest.mark.parametrize(
    "message",
    [b"\x00", bytes(range(256)), os.urandom(1 << 20), b"\xc3\x01" + bytes(8)],
    ids=["nul", "every-byte", "1MiB", "avro-header"],
)
async def test_signs_any_bytes(signer: Signer, message: bytes) -> None:
    signature = await signer.sign(message)
    assert_verifies(signer, message, signature)


async def test_signature_does_not_verify_other_bytes(signer: Signer) -> None:
    signature = await signer.sign(MESSAGE)
    pem = signer.public_key_pem()
    for tampered in (MESSAGE + b"x", MESSAGE[:-1], MESSAGE.replace(b"42", b"43"), b""):
        assert_rejected(pem, signer.key_id, tampered, signature)
    for index in (0, 31, 32, 63):
        flipped = bytearray(signature)
        flipped[index] ^= 0x01
        assert_rejected(pem, signer.key_id, MESSAGE, bytes(flipped))


async def test_signature_by_another_key_does_not_verify(
    signer: Signer, other_signer: Signer
) -> None:
    signature = await signer.sign(MESSAGE)
    assert await other_signer.sign(MESSAGE) != signature
    assert_rejected(other_signer.public_key_pem(), other_signer.key_id, MESSAGE, signature)


async def test_concurrent_signing_keeps_each_signature_with_its_message(signer: Signer) -> None:
    """An async signer shared by several tasks must not mix their requests up."""
    messages = [f"checkpoint {i}".encode() for i in range(32)]
    signatures = await asyncio.gather(*(signer.sign(m) for m in messages))
    for message, signature in zip(messages, signatures, strict=True):
        assert_verifies(signer, message, signature)


# --------------------------------------------------------------------------------------
# The private key stays inside
# --------------------------------------------------------------------------------------


def _secret_forms(secret: bytes | None) -> list[bytes]:
    """Every spelling of the private key the suite can think of, to search for."""
    forms = [b"PRIVATE"]
    if secret is not None:
        key = Ed25519PrivateKey.from_private_bytes(secret)
        der = key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
        forms += [
            secret,
            secret.hex().encode(),
            base64.b64encode(secret).rstrip(b"="),
            der,
            base64.b64encode(der).rstrip(b"="),
        ]
    return forms


def _public_values(signer: Signer) -> Iterator[tuple[str, Any]]:
    """The signer's public attributes and what its public zero-argument getters return."""
    yield "repr()", repr(signer)
    yield "str()", str(signer)
    yield "public_key_pem()", signer.public_key_pem()
    for name in dir(signer):
        if name.startswith("_"):
            continue
        value = getattr(signer, name)
        if not callable(value):
            yield name, value


async def test_private_key_is_never_exposed_by_the_public_surface(
    harness: SignerHarness, key_ref: str, signer: Signer
) -> None:
    forms = _secret_forms(harness.secret(key_ref))
    for name, value in _public_values(signer):
        type_name = type(value).__name__
        assert not isinstance(value, Ed25519PrivateKey), name
        assert "PrivateKey" not in type_name, f"{name} is a {type_name}"
        text = value if isinstance(value, bytes) else repr(value).encode()
        for form in forms:
            assert form not in text, f"{name} shows the private key"
    # Pickling is how an object leaves the process; it must refuse or carry no key.
    try:
        pickled = pickle.dumps(signer)
    except (TypeError, pickle.PicklingError):
        return
    for form in forms:
        assert form not in pickled, "the pickle carries the private key"


# --------------------------------------------------------------------------------------
# Errors and resources
# --------------------------------------------------------------------------------------


async def test_misconfigurations_are_covenant_errors(
    harness: SignerHarness, key_ref: str, tmp_path: Path
) -> None:
    workdir = tmp_path / "broken"
    workdir.mkdir()
    cases = harness.misconfigurations(workdir)
    assert cases, "a harness names at least one way to misconfigure its adapter"
    forms = _secret_forms(harness.secret(key_ref))
    for name, opener in cases.items():
        with pytest.raises(CovenantError) as excinfo:
            async with opener():
                pass
        error = excinfo.value
        assert not error.retriable, f"{name}: retrying cannot fix a configuration"
        assert str(error), f"{name}: the error says what is wrong"
        # Translated at the boundary: no library exception chained in for the operator.
        assert error.__cause__ is None, f"{name}: chains {error.__cause__!r}"
        for form in forms:
            assert form not in str(error).encode(), f"{name}: the message shows the key"


async def test_verification_failures_are_covenant_errors(
    signer: Signer, other_signer: Signer
) -> None:
    """The worker runtime retries whatever is not a non-retriable CovenantError."""
    signature = await signer.sign(MESSAGE)
    with pytest.raises(CovenantError) as excinfo:
        verify_signature(
            public_key_pem=other_signer.public_key_pem(), message=MESSAGE, signature=signature
        )
    assert isinstance(excinfo.value, SignatureError)
    assert not excinfo.value.retriable


async def test_opening_and_closing_leaves_nothing_open(
    harness: SignerHarness, key_ref: str
) -> None:
    """Open, use and close a signer many times: no descriptor stays behind.

    A signer with its own ``aclose`` or ``close`` (an HSM session, a KMS client) is
    closed twice before its context exits, which must be harmless; after that it
    signs correctly or refuses with a CovenantError, never a library error.
    """
    async with harness.open(key_ref) as warm:  # first use may load libraries lazily
        await warm.sign(MESSAGE)
    before = open_descriptors()
    for _ in range(20):
        async with harness.open(key_ref) as signer:
            assert_verifies(signer, MESSAGE, await signer.sign(MESSAGE))
            for name in ("aclose", "close"):
                close = getattr(signer, name, None)
                if close is None:
                    continue
                for _ in range(2):
                    result = close()
                    if inspect.isawaitable(result):
                        await result
                try:
                    after_close = await signer.sign(MESSAGE)
                except CovenantError:
                    pass
                else:
                    assert_verifies(signer, MESSAGE, after_close)
    assert open_descriptors() == before
