"""The one error the provenance capability raises on purpose."""

from __future__ import annotations

from covenant.errors import CovenantError

__all__ = ["ProvenanceError"]


class ProvenanceError(CovenantError, ValueError):
    """A manifest, envelope, watermark or bundle is not what was signed, or cannot be read.

    Never retriable: the same bytes fail the same way every time. Still a ``ValueError``
    for callers that treat bad input as one.

    Attributes:
        name: the model file (its name inside the artifact) the failure is about, so a
            caller can show which file was renamed, swapped or altered; None when the
            failure is about the envelope, statement or bundle as a whole.
    """

    def __init__(self, message: str, *, name: str | None = None) -> None:
        super().__init__(message)
        self.name = name
