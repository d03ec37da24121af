"""SemVer 2.0.0, the version scheme of releases and of registered model versions."""

from __future__ import annotations

import re

# The regular expression published at semver.org, unchanged.
_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)


def is_semver(version: str) -> bool:
    """Whether ``version`` is a valid SemVer 2.0.0 string (no leading ``v``)."""
    return _SEMVER.match(version) is not None
