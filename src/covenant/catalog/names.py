"""The model family name rule, shared by the registry and the training worker."""

from __future__ import annotations

import re

# Lowercase, digits, dot, underscore, dash; a letter or digit first; 100 at most.
_FAMILY = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")


def is_family_name(name: str) -> bool:
    """Whether ``name`` is a valid model family (the whole string: no trailing newline)."""
    return _FAMILY.fullmatch(name) is not None
