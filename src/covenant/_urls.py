"""What the ``open_*`` functions share in reading a URL: the file a ``sqlite:`` URL names."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import ParseResult

from covenant.errors import ConfigError


def sqlite_path(url: str, parsed: ParseResult, *, example: str) -> Path:
    """The database file named by ``sqlite:///abs/path`` or ``sqlite://rel/path``.

    A host part is read as the start of a relative path, so both spellings work.

    Args:
        url: the URL as given, for the error message.
        parsed: ``urlparse(url)``, whose scheme is ``sqlite``.
        example: a file name for the hint, e.g. ``log.sqlite3``.

    Raises:
        ConfigError: the URL names no file.
    """
    path = parsed.path if not parsed.netloc else f"{parsed.netloc}{parsed.path}"
    if not path:
        raise ConfigError(f"{url!r}: give a file, e.g. sqlite:///var/covenant/{example}")
    return Path(path)
