"""The one error evaluation raises on purpose, with the refusal code it becomes.

The worker turns an ``EvaluationError`` into ``eval.failed`` with a ``Refusal`` of
the same code, so the metrics, runners and test-set reader say *what* is wrong and
the worker needs no table of exception types to say *how* it is refused.
"""

from __future__ import annotations

from covenant.errors import CovenantError
from covenant.events.refusals import RefusalCode


class EvaluationError(CovenantError):
    """A model, test set or figure that cannot be evaluated; never retriable.

    Attributes:
        code: the refusal code ``eval.failed`` carries (``invalid`` unless told).
        field: the command field it concerns, when one does.
    """

    def __init__(
        self, message: str, *, code: RefusalCode = RefusalCode.INVALID, field: str | None = None
    ) -> None:
        super().__init__(message, retriable=False)
        self.code = code
        self.field = field
