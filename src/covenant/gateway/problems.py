"""Every error answer is an RFC 9457 problem document (``application/problem+json``).

One shape for every failure means a client needs one error parser: ``type`` says
what kind of problem it is (a URN; stable, not meant to be dereferenced), ``title``
is its fixed human name, ``status`` repeats the HTTP status, ``detail`` says what
happened this time. Extensions carry what a caller acts on: ``errors`` (one entry
per offending field, with where it was and a JSON pointer for body fields),
``reasons`` (why a worker refused a command), ``commandId``.

The handlers translate, in this order of specificity:

* ``Problem``, raised by routes for answers they decide (404, 409, 422 ...);
* FastAPI's request validation: malformed JSON → 400, anything else → 422
  naming every field;
* Starlette's HTTP errors (unknown route 404, 405) → the same shape;
* our ``CovenantError`` tree: unknown artifact → 404, checksum mismatch → 422,
  too large → 413, contract violations → 422, retriable failures of the log or
  the stores → 503 with ``Retry-After``, the rest → 500;
* anything else → 500 without internals (the gateway's log has the traceback).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from covenant.blobs.errors import (
    BlobNotFoundError,
    ChecksumMismatchError,
    InvalidArtifactIdError,
    TooLargeError,
)
from covenant.errors import ContractError, CovenantError, ValidationError

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:covenant:problem:"

log = logging.getLogger("covenant.gateway")


class Problem(HTTPException, CovenantError):  # noqa: N818 - an RFC 9457 "problem"
    """An answer that is a problem document; raise it from a route.

    It is an ``HTTPException`` so that FastAPI passes it through untouched when it
    is raised while the body is being read (the JSON size limit does that), and a
    ``CovenantError`` like every error Covenant raises on purpose.

    Args:
        status: the HTTP status.
        kind: the last part of the ``type`` URN (``conflict``, ``rejected`` ...);
            empty for plain HTTP problems, whose type is ``about:blank``.
        detail: what happened this time, for a person.
        title: the problem's fixed name; defaults to the status phrase.
        headers: extra response headers (``Retry-After``, ``Location``).
        extensions: extra members (``errors``, ``reasons``, ``commandId`` ...).
    """

    def __init__(
        self,
        status: int,
        kind: str,
        detail: str,
        *,
        title: str | None = None,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(status, detail, dict(headers) if headers else None)
        self.kind = kind
        self.title = title or HTTPStatus(status).phrase
        self.extensions = extensions

    def document(self) -> dict[str, Any]:
        """The RFC 9457 members, then the extensions."""
        return {
            "type": TYPE_PREFIX + self.kind if self.kind else "about:blank",
            "title": self.title,
            "status": self.status_code,
            "detail": self.detail,
            **self.extensions,
        }

    def response(self) -> Response:
        """The problem as a response."""
        return Response(
            json.dumps(self.document(), ensure_ascii=False).encode(),
            status_code=self.status_code,
            headers=self.headers,
            media_type=PROBLEM_JSON,
        )


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error answer of ``app`` a problem document."""
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_request_validation)
    app.add_exception_handler(HTTPException, _on_http_error)
    app.add_exception_handler(CovenantError, _on_covenant_error)
    app.add_exception_handler(Exception, _on_unexpected)


def validation_problem(errors: Sequence[Mapping[str, Any]]) -> Problem:
    """422 naming every offending field, from pydantic-style error dicts
    (``loc`` starting with ``body``, ``query``, ``header`` or ``path``)."""
    entries = [_field_error(e) for e in errors]
    first = entries[0] if entries else {"in": "body", "field": "", "detail": "invalid"}
    where = f"{first['in']} field {first['field']!r}" if first["field"] else f"the {first['in']}"
    more = f" (and {len(entries) - 1} more)" if len(entries) > 1 else ""
    return Problem(
        422,
        "validation",
        f"{where}: {first['detail']}{more}",
        title="Request does not match the schema",
        errors=entries,
    )


def problem_for(exc: CovenantError) -> Problem:
    """The answer for one of our errors (see the module doc for the mapping)."""
    if isinstance(exc, BlobNotFoundError | InvalidArtifactIdError):
        return Problem(404, "not-found", str(exc), title="No such artifact")
    if isinstance(exc, ChecksumMismatchError):
        return Problem(
            422,
            "checksum-mismatch",
            f"{exc}; nothing was stored",
            title="Checksum mismatch",
            expected=exc.expected,
            actual=exc.actual,
        )
    if isinstance(exc, TooLargeError):
        return Problem(
            413, "too-large", f"{exc}; nothing was stored", title="Too large", limit=exc.limit
        )
    if isinstance(exc, ValidationError):
        entry = {"in": "body", "field": exc.field, "detail": str(exc)}
        return Problem(422, "validation", str(exc), title="Invalid document", errors=[entry])
    if isinstance(exc, ContractError):
        return Problem(422, "validation", str(exc), title="Invalid document")
    if exc.retriable:
        return Problem(
            503,
            "unavailable",
            f"{exc}; try again shortly",
            title="Temporarily unavailable",
            headers={"Retry-After": "1"},
        )
    return Problem(500, "internal", str(exc), title="Internal error")


def _field_error(error: Mapping[str, Any]) -> dict[str, str]:
    loc = [str(part) for part in error.get("loc", ())]
    where, path = (loc[0], loc[1:]) if loc else ("body", [])
    entry = {"in": where, "field": ".".join(path), "detail": str(error.get("msg", "invalid"))}
    if where == "body":
        entry["pointer"] = "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in path)
    return entry


async def _on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return exc.response()


async def _on_request_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    for error in errors:
        if error.get("type") == "json_invalid":
            reason = (error.get("ctx") or {}).get("error", "not JSON")
            position = error["loc"][-1] if error.get("loc") else "?"
            return Problem(
                400,
                "malformed-json",
                f"the body is not valid JSON: {reason} (at character {position})",
                title="Malformed JSON",
            ).response()
    return validation_problem(errors).response()


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return Problem(exc.status_code, "", str(exc.detail), headers=exc.headers).response()


async def _on_covenant_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CovenantError)
    problem = problem_for(exc)
    if problem.status_code >= 500:
        log.error("%s %s failed: %s", request.method, request.url.path, exc, exc_info=exc)
    return problem.response()


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return Problem(500, "internal", "internal error; the gateway's log has the details").response()
