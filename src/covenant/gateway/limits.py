"""A cap on command bodies, enforced while they arrive.

FastAPI reads a JSON body whole before validating it, so without a cap one request
could make the gateway buffer any amount. The artifact upload is exempt: it streams
into the blob store, which enforces its own (much larger) limit as it writes.

This is plain ASGI rather than Starlette's ``BaseHTTPMiddleware``, and it steps
aside at once for requests without a body, so the read paths pay one dictionary
lookup for it.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from covenant.gateway.problems import Problem

_NO_BODY = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})


def _too_large(limit: int) -> Problem:
    return Problem(
        413,
        "too-large",
        f"request bodies are limited to {limit} bytes here (uploads go to POST /artifact/upload)",
        title="Too large",
        limit=limit,
    )


class BodyLimit:
    """Refuse bodies over ``max_bytes`` with 413, except on ``exempt_suffix`` paths.

    A declared ``Content-Length`` over the limit is refused before the body is read;
    a chunked body is counted as it arrives and refused once it crosses the limit.

    Args:
        app: the application to protect.
        max_bytes: the largest body accepted.
        exempt_suffix: paths ending so are passed through untouched (the upload).
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, exempt_suffix: str) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.exempt_suffix = exempt_suffix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] in _NO_BODY
            or scope["path"].endswith(self.exempt_suffix)
        ):
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await _too_large(limit).response()(scope, receive, send)
                return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # An HTTPException: FastAPI lets it through its body reading, and
                    # the problem handler answers it.
                    raise _too_large(limit)
            return message

        await self.app(scope, limited, send)
