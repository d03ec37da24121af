"""The logged-in session of each PKCS#11 token in this process, shared and counted.

PKCS#11 login is per process, not per session (v3 §5.6): a second ``C_Login`` fails with
``CKR_USER_ALREADY_LOGGED_IN`` and ``C_Logout`` on any session logs all of them out. So
every ``Pkcs11Signer`` over one token shares one session; the last to close logs out.
The table mirrors state the PKCS#11 module keeps per process anyway (python-pkcs11 loads
each module once per process); it is not an implicit "current" object.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import hmac
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pkcs11
from pkcs11 import exceptions as p11

from covenant.errors import ConfigError

if TYPE_CHECKING:
    from covenant.signing.pkcs11 import Pkcs11Key


def _fail(message: str) -> NoReturn:
    """Raise ConfigError(message) without chaining the library exception."""
    raise ConfigError(message) from None


@dataclass
class Shared:
    """One logged-in session over a token, shared by the signers of this process."""

    session: Any
    pin_digest: bytes
    lock: threading.Lock = field(default_factory=threading.Lock)
    users: int = 0


_CKU_USER = 1
_CKR_OK, _CKR_USER_ALREADY_LOGGED_IN = 0x00, 0x100
_PIN_ERRORS = {
    0xA0: "wrong PIN for PKCS#11 token {token!r}; check {src}",
    0xA1: "the PIN for token {token!r} is malformed; check {src}",
    0xA2: "the PIN for token {token!r} has the wrong length; check {src}",
    0xA4: "PKCS#11 token {token!r} has its user PIN locked; unlock it with the SO PIN",
}


def _logged_in(where: Pkcs11Key, token: Any, pin: str) -> Any:
    """A read-write session on ``token``, logged in as the user, leaking nothing on failure.

    python-pkcs11's ``Token.open(user_pin=...)`` opens the session, then logs in, and on a
    wrong PIN raises without closing the session it opened. So the session is opened
    first, without a PIN, and ``C_Login`` called on it through the module's exported
    symbol; on failure the session is closed. (A session opened without a PIN is also
    never ``C_Logout``-ed by python-pkcs11: the login ends when the last session closes,
    PKCS#11 v3 §5.6.) A module that exports only ``C_GetFunctionList`` gets the plain
    ``Token.open`` path.
    """
    src = _src(where)
    try:
        c_login = ctypes.CDLL(str(where.module)).C_Login
    except (OSError, AttributeError):
        try:
            return token.open(user_pin=pin, rw=True)
        except p11.PinIncorrect:
            _fail(_PIN_ERRORS[0xA0].format(token=where.token, src=src))
        except p11.PKCS11Error as exc:
            _fail(f"cannot log in to token {where.token!r}: {type(exc).__name__}")
    c_login.restype = ctypes.c_ulong
    c_login.argtypes = [ctypes.c_ulong, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_ulong]
    try:
        session = token.open(rw=True)
    except p11.PKCS11Error as exc:
        _fail(f"cannot open a session on token {where.token!r}: {type(exc).__name__}")
    secret = pin.encode()
    rv = int(c_login(session.handle, _CKU_USER, secret, len(secret)))
    if rv in (_CKR_OK, _CKR_USER_ALREADY_LOGGED_IN):
        return session
    with contextlib.suppress(p11.PKCS11Error):
        session.close()
    message = _PIN_ERRORS.get(rv, "cannot log in to token {token!r}: CKR 0x" + f"{rv:X}")
    _fail(message.format(token=where.token, src=src))


class Sessions:
    """The logged-in session of each token in this process, counted (see module doc)."""

    _table: dict[tuple[str, str], Shared] = {}  # noqa: RUF012 - per process by design
    _guard = threading.Lock()

    @classmethod
    def acquire(cls, where: Pkcs11Key, pin: str) -> Shared:
        digest = hashlib.sha256(pin.encode()).digest()
        lib = _load(where.module)
        name = (str(where.module), where.token)
        with cls._guard:
            shared = cls._table.get(name)
            if shared is None:
                session = _logged_in(where, _token(lib, where), pin)
                shared = cls._table[name] = Shared(session, digest)
            elif not hmac.compare_digest(shared.pin_digest, digest):
                _fail(f"wrong PIN for PKCS#11 token {where.token!r}; check {_src(where)}")
            shared.users += 1
            return shared

    @classmethod
    def release(cls, where: Pkcs11Key, shared: Shared) -> None:
        name = (str(where.module), where.token)
        with cls._guard:
            shared.users -= 1
            if shared.users > 0:
                return
            cls._table.pop(name, None)
            # A token that went away has nothing left to release.
            with shared.lock, contextlib.suppress(p11.PKCS11Error):
                shared.session.close()


def _src(where: Pkcs11Key) -> str:
    """Where the PIN came from (a variable's name or a file's path, never the PIN)."""
    return f"the PIN source {where.pin_source}"


def _load(module: Path) -> Any:
    if not module.is_file():
        _fail(
            f"PKCS#11 module {module} does not exist; install the HSM's PKCS#11 library "
            "(for SoftHSM2: apt-get install softhsm2) and give its path"
        )
    try:
        return pkcs11.lib(str(module))
    except (p11.PKCS11Error, OSError) as exc:
        _fail(f"cannot load PKCS#11 module {module}: {type(exc).__name__}; is it a module?")


def _token(lib: Any, where: Pkcs11Key) -> Any:
    try:
        return lib.get_token(token_label=where.token)
    except p11.NoSuchToken:
        labels = sorted(t.label for t in lib.get_tokens() if t.label)
        _fail(
            f"no PKCS#11 token labelled {where.token!r} in {where.module} "
            f"(tokens: {labels}); initialise one or fix the label"
        )
    except p11.PKCS11Error as exc:
        _fail(f"cannot list tokens of {where.module}: {type(exc).__name__}")
