"""``COVENANT_SIGNER`` picks the adapter: each form opens the signer it names, with the
custody that signer really has, and a bad value names the setting and the forms."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest

from covenant.audit import audit_key_path
from covenant.errors import ConfigError
from covenant.settings import Settings
from covenant.signing import Custody, LocalKeySigner
from covenant.signing.config import open_signer, parse_pkcs11_uri
from covenant.signing.pkcs11 import Pkcs11Signer
from covenant.testing.signing_proxy import LocalSigningProxy
from covenant.testing.softhsm import SoftHsm


def _settings(home: Path, **env: str) -> Settings:
    return Settings.from_env({"COVENANT_HOME": str(home), **env})


async def test_the_default_is_the_dev_key_under_home(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    async with open_signer(settings) as signer:
        assert signer.custody is Custody.DEVELOPMENT
        assert isinstance(signer, LocalKeySigner)
        assert signer.path == audit_key_path(settings)
        first = signer.key_id
    async with open_signer(settings) as again:
        assert again.key_id == first


async def test_a_key_file(tmp_path: Path) -> None:
    made = LocalKeySigner.generate(tmp_path / "k.pem")
    async with open_signer(_settings(tmp_path, COVENANT_SIGNER=f"file:{made.path}")) as signer:
        assert signer.key_id == made.key_id
        assert signer.custody is Custody.DEVELOPMENT


def _uri(hsm: SoftHsm, label: str) -> str:
    return (
        f"pkcs11:token={quote(hsm.token)};object={quote(label)}"
        f"?module-path={hsm.module}&pin-source=file:{hsm.pin_file}"
    )


async def test_a_pkcs11_uri(softhsm: SoftHsm, tmp_path: Path) -> None:
    where = softhsm.key()
    key_id = await Pkcs11Signer.generate(where)
    assert parse_pkcs11_uri(_uri(softhsm, where.key)) == where
    async with open_signer(_settings(tmp_path, COVENANT_SIGNER=_uri(softhsm, where.key))) as s:
        assert s.key_id == key_id
        assert s.custody is Custody.HSM


def test_a_pkcs11_uri_may_name_a_pin_variable() -> None:
    parsed = parse_pkcs11_uri("pkcs11:token=t;object=k?module-path=/m.so&x-pin-env=HSM_PIN")
    assert parsed.pin_source == "env:HSM_PIN"


async def test_the_signing_proxy(signing_proxy: LocalSigningProxy, tmp_path: Path) -> None:
    where = signing_proxy.hsm.key()
    key_id = await Pkcs11Signer.generate(where)
    client = signing_proxy.pki.clients["covenant-audit"]
    settings = _settings(
        tmp_path,
        COVENANT_SIGNER=signing_proxy.url_for(where.key),
        COVENANT_SIGNER_CERT=str(client.cert),
        COVENANT_SIGNER_KEY=str(client.key),
        COVENANT_SIGNER_CA=str(signing_proxy.pki.ca),
    )
    async with open_signer(settings) as signer:
        assert signer.key_id == key_id
        assert signer.custody is Custody.KMS


@pytest.mark.parametrize(
    "value",
    [
        "hsm://somewhere",
        "/just/a/path.pem",
        "file:",
        "pkcs11:token=t?module-path=/m.so&pin-source=file:/p",
        "pkcs11:token=t;object=k?pin-source=file:/p",
        "pkcs11:token=t;object=k?module-path=/m.so",
        "https://127.0.0.1:1/v1/keys/k",
    ],
)
async def test_a_bad_value_names_the_setting_and_the_forms(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match="COVENANT_SIGNER") as excinfo:
        async with open_signer(_settings(tmp_path, COVENANT_SIGNER=value)):
            pass
    assert "accepted forms" in str(excinfo.value)
    assert excinfo.value.__cause__ is None


async def test_a_pin_in_the_uri_is_refused_without_repeating_it(tmp_path: Path) -> None:
    value = "pkcs11:token=t;object=k?module-path=/m.so&pin-value=s3cr3t-pin"
    with pytest.raises(ConfigError, match="pin-value") as excinfo:
        async with open_signer(_settings(tmp_path, COVENANT_SIGNER=value)):
            pass
    assert "s3cr3t-pin" not in str(excinfo.value)
