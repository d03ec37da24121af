"""The errors drift raises on purpose.

A ``ProfileError`` is a reference profile that cannot be built, read or merged; a
``SampleError`` is one serving sample that cannot be scored, with the reason it is
counted and dead-lettered by. Neither is retriable: the same bytes fail the same way.
"""

from __future__ import annotations

from covenant.errors import CovenantError


class DriftError(CovenantError):
    """Base of the drift errors."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retriable=False)


class ProfileError(DriftError):
    """A profile that cannot be built, parsed or merged, and why."""


class SampleError(DriftError):
    """A serving sample that cannot be scored; ``reason`` is the short code it is counted by.

    Reasons: ``missing_column``, ``unknown_column``, ``not_a_number``, ``not_finite``,
    ``not_a_category``.
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class UnknownDeploymentError(DriftError):
    """A sample naming a deployment Covenant never recorded, or a model that deployment
    does not serve: no reference to score it against, so it is dead-lettered whole
    rather than counted inside some window."""
