"""The errors drift raises on purpose.

A ``ProfileError`` is a reference profile that cannot be built, read or merged. It is
not retriable: the same bytes fail the same way.
"""

from __future__ import annotations

from covenant.errors import CovenantError


class DriftError(CovenantError):
    """Base of the drift errors."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retriable=False)


class ProfileError(DriftError):
    """A profile that cannot be built, parsed or merged, and why."""
