"""Tests for covenant.signing: the Signer port, verification, and the local key adapter."""

from __future__ import annotations

import copy
import hashlib
import os
import pickle
import re
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from covenant.errors import ConfigError, CovenantError
from covenant.signing import (
    LocalKeySigner,
    SignatureError,
    key_id_for,
    verify_signature,
)

MESSAGE = b"checkpoint\nsize=42\nroot=abcd\n"


@pytest.fixture
def key_path(tmp_path: Path) -> Path:
    return tmp_path / "signing-key.pem"


@pytest.fixture
def signer(key_path: Path) -> LocalKeySigner:
    return LocalKeySigner.generate(key_path)


def _write_key(path: Path, pem: bytes, mode: int = 0o600) -> Path:
    path.write_bytes(pem)
    path.chmod(mode)
    return path


def _ed25519_pem(key: Ed25519PrivateKey | None = None) -> bytes:
    key = key or Ed25519PrivateKey.generate()
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


# --- Sign and verify ---


async def test_malformed_signature_is_rejected(signer: LocalKeySigner) -> None:
    """A flipped bit is the contract suite's (tests/conformance/test_signer.py); the
    length check is verify_signature's own, whoever signed."""
    signature = await signer.sign(MESSAGE)
    pem = signer.public_key_pem()
    for wrong_length in (b"", signature[:-1], signature + b"\x00"):
        with pytest.raises(SignatureError, match="not the 64 of an Ed25519 signature"):
            verify_signature(public_key_pem=pem, message=MESSAGE, signature=wrong_length)


def test_verify_rejects_unusable_public_keys(signer: LocalKeySigner) -> None:
    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(SignatureError, match="not Ed25519") as excinfo:
        verify_signature(public_key_pem=ec_pem, message=MESSAGE, signature=bytes(64))
    assert excinfo.value.key_id is None
    with pytest.raises(SignatureError, match="not a readable PEM public key"):
        verify_signature(public_key_pem=b"not a pem", message=MESSAGE, signature=bytes(64))
    with pytest.raises(SignatureError, match="not Ed25519"):
        key_id_for(ec_pem)
    assert issubclass(SignatureError, ValueError)


def test_signature_errors_are_non_retriable_covenant_errors() -> None:
    """The worker runtime retries anything that is not a non-retriable CovenantError."""
    error = SignatureError("forged", key_id="ed25519:0123456789abcdef")
    assert isinstance(error, CovenantError)
    assert not error.retriable
    assert error.key_id == "ed25519:0123456789abcdef"
    assert str(error) == "forged"


# --- Key ids ---


def test_key_id_of_a_key_file_is_derived_from_its_raw_public_key(tmp_path: Path) -> None:
    """Stability and derivation for every signer are in the contract suite; this pins the
    id of a key file written by someone else, and key_id_for's indifference to framing."""
    private = Ed25519PrivateKey.generate()
    raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    expected = "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]
    from_file = LocalKeySigner(_write_key(tmp_path / "known.pem", _ed25519_pem(private)))
    assert from_file.key_id == expected
    # The id depends on the key, not on the PEM's framing.
    pem = private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    assert key_id_for(pem.replace(b"\n", b"\r\n")) == expected


def test_known_key_id_vector(tmp_path: Path) -> None:
    """Pin the derivation with a fixed key (RFC 8032 §7.1 test 1 secret key)."""
    seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    private = Ed25519PrivateKey.from_private_bytes(seed)
    signer = LocalKeySigner(_write_key(tmp_path / "rfc8032.pem", _ed25519_pem(private)))
    public_raw = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    assert signer.key_id == "ed25519:" + hashlib.sha256(public_raw).hexdigest()[:16]


async def test_rfc8032_signature_vector(tmp_path: Path) -> None:
    """RFC 8032 §7.1 test 1: the empty message under the test key."""
    seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    signer = LocalKeySigner(
        _write_key(
            tmp_path / "rfc8032.pem", _ed25519_pem(Ed25519PrivateKey.from_private_bytes(seed))
        )
    )
    expected = bytes.fromhex(
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    )
    assert await signer.sign(b"") == expected


# --- Key files ---


def test_generate_creates_a_private_pkcs8_file(signer: LocalKeySigner, key_path: Path) -> None:
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    content = key_path.read_bytes()
    assert content.startswith(b"-----BEGIN PRIVATE KEY-----\n")
    assert signer.path == key_path
    assert signer.algorithm == "ed25519"


def test_generate_ignores_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        LocalKeySigner.generate(tmp_path / "k.pem")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "k.pem").stat().st_mode) == 0o600


def test_generate_refuses_to_overwrite(signer: LocalKeySigner, key_path: Path) -> None:
    before = key_path.read_bytes()
    with pytest.raises(ConfigError, match="already exists"):
        LocalKeySigner.generate(key_path)
    assert key_path.read_bytes() == before
    assert LocalKeySigner(key_path).key_id == signer.key_id


def test_generate_refuses_to_follow_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.pem"
    link = tmp_path / "link.pem"
    link.symlink_to(target)
    with pytest.raises(ConfigError, match="already exists"):
        LocalKeySigner.generate(link)
    assert not target.exists()


def test_generate_reports_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot create key file"):
        LocalKeySigner.generate(tmp_path / "no-such-dir" / "k.pem")


def test_a_path_no_file_can_have_is_a_config_error(tmp_path: Path) -> None:
    """A NUL byte makes ``os.open`` raise ValueError, not OSError; it must not leak."""
    impossible = tmp_path / "bad\0name.pem"
    with pytest.raises(ConfigError, match=r"cannot create key file .*embedded null byte"):
        LocalKeySigner.generate(impossible)
    with pytest.raises(ConfigError, match=r"cannot open key file .*embedded null byte"):
        LocalKeySigner(impossible)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o606, 0o620, 0o602, 0o610])
def test_load_refuses_a_key_file_others_can_access(key_path: Path, mode: int) -> None:
    _write_key(key_path, _ed25519_pem(), mode)
    with pytest.raises(ConfigError, match=re.escape(f"chmod 600 {key_path}")) as excinfo:
        LocalKeySigner(key_path)
    assert f"{mode:04o}" in str(excinfo.value)
    key_path.chmod(0o600)
    LocalKeySigner(key_path)


def test_load_accepts_owner_only_modes(key_path: Path) -> None:
    _write_key(key_path, _ed25519_pem(), 0o400)
    LocalKeySigner(key_path)


def test_load_refuses_unusable_key_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot open key file"):
        LocalKeySigner(tmp_path / "missing.pem")
    with pytest.raises(ConfigError, match="not a regular file"):
        LocalKeySigner(tmp_path)
    garbage = _write_key(tmp_path / "garbage.pem", b"hello")
    with pytest.raises(ConfigError, match="not a PKCS#8 PEM private key"):
        LocalKeySigner(garbage)
    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
    )
    with pytest.raises(ConfigError, match="needs an Ed25519 key"):
        LocalKeySigner(_write_key(tmp_path / "ec.pem", ec_pem))
    encrypted = Ed25519PrivateKey.generate().private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, BestAvailableEncryption(b"secret")
    )
    with pytest.raises(ConfigError, match="unencrypted"):
        LocalKeySigner(_write_key(tmp_path / "encrypted.pem", encrypted))
    huge = _write_key(tmp_path / "huge.pem", b"x" * 100_000)
    with pytest.raises(ConfigError, match="larger than"):
        LocalKeySigner(huge)


# --- The private key stays inside ---


def test_private_key_is_not_exposed(signer: LocalKeySigner, key_path: Path) -> None:
    pem = key_path.read_bytes()
    body = b"".join(pem.splitlines()[1:-1]).decode()
    text = repr(signer)
    assert text == f"LocalKeySigner(key_id={signer.key_id!r}, path={str(key_path)!r})"
    assert body not in text
    assert str(signer) == text
    # What every signer's public attributes must not hold is the contract suite's.
    assert not hasattr(signer, "__dict__")
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(signer)
    with pytest.raises(TypeError, match="cannot be pickled"):
        copy.copy(signer)
    with pytest.raises(TypeError, match="cannot be pickled"):
        copy.deepcopy(signer)
