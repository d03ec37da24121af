"""What only a PKCS#11 token can show: the private key cannot be read back from it.

The conformance suite checks the signer's public surface; these tests go behind it, to
the token itself with python-pkcs11, and assert that the key ``Pkcs11Signer.generate``
made is sensitive, not extractable, stored on the token, and that asking for its value
is refused by the token.
"""

from __future__ import annotations

import ctypes
from dataclasses import replace

import pkcs11
import pytest
from pkcs11 import Attribute, ObjectClass
from pkcs11.exceptions import AttributeSensitive

from covenant.errors import ConfigError
from covenant.signing import Custody, verify_signature
from covenant.signing.pkcs11 import Pkcs11Signer
from covenant.testing.softhsm import SoftHsm


async def test_the_token_refuses_to_reveal_the_private_key(softhsm: SoftHsm) -> None:
    where = softhsm.key()
    key_id = await Pkcs11Signer.generate(where)
    token = pkcs11.lib(str(softhsm.module)).get_token(token_label=softhsm.token)
    with token.open(user_pin=softhsm.pin_file.read_text()) as session:
        private = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=where.key)
        assert private[Attribute.SENSITIVE] is True
        assert private[Attribute.EXTRACTABLE] is False
        assert private[Attribute.ALWAYS_SENSITIVE] is True
        assert private[Attribute.NEVER_EXTRACTABLE] is True
        assert private[Attribute.TOKEN] is True
        with pytest.raises(AttributeSensitive):
            private[Attribute.VALUE]
    async with Pkcs11Signer.open(where) as signer:
        assert signer.key_id == key_id
        assert signer.custody is Custody.HSM
        signature = await signer.sign(b"checkpoint")
        verify_signature(
            public_key_pem=signer.public_key_pem(), message=b"checkpoint", signature=signature
        )


async def test_a_label_is_never_given_to_two_keys(softhsm: SoftHsm) -> None:
    where = softhsm.key()
    await Pkcs11Signer.generate(where)
    with pytest.raises(ConfigError, match="exists") as excinfo:
        await Pkcs11Signer.generate(where)
    assert excinfo.value.__cause__ is None


async def test_the_pin_is_in_no_repr_or_error(softhsm: SoftHsm) -> None:
    pin = softhsm.pin_file.read_text()
    where = softhsm.key()
    await Pkcs11Signer.generate(where)
    async with Pkcs11Signer.open(where) as signer:
        assert pin not in repr(signer)
        assert pin not in repr(signer.where)
    wrong = softhsm.folder / "wrong-pin"
    wrong.write_text(pin[::-1])
    with pytest.raises(ConfigError) as excinfo:
        async with Pkcs11Signer.open(
            type(where)(where.module, where.token, where.key, f"file:{wrong}")
        ):
            pass
    assert pin not in str(excinfo.value)
    assert pin[::-1] not in str(excinfo.value)


def _live_sessions(module: str) -> int:
    """How many session handles the module answers for (SoftHSM2 numbers them from 1)."""
    lib = ctypes.CDLL(module)
    info = ctypes.create_string_buffer(64)  # CK_SESSION_INFO is 32 bytes on LP64
    return sum(lib.C_GetSessionInfo(ctypes.c_ulong(h), info) == 0 for h in range(1, 512))


async def test_a_wrong_pin_leaves_no_session_open(softhsm: SoftHsm) -> None:
    where = softhsm.key()
    await Pkcs11Signer.generate(where)
    wrong = softhsm.folder / "wrong-pin-2"
    wrong.write_text("0000")
    before = _live_sessions(str(softhsm.module))
    for _ in range(3):
        with pytest.raises(ConfigError, match="wrong PIN"):
            async with Pkcs11Signer.open(replace(where, pin_source=f"file:{wrong}")):
                pass
    assert _live_sessions(str(softhsm.module)) == before
