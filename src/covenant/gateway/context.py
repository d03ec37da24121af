"""What every route works with, and the one way a command is submitted.

Routes are built by factories that close over a ``Gateway``, so a route reaches
the log and the stores through a local variable: no globals, no per-request
lookup in ``app.state``, and everything typed.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import BaseModel

from covenant.blobs.protocol import BlobStore
from covenant.bus.protocol import Bus
from covenant.events.base import Message
from covenant.events.codec import Codec
from covenant.gateway.config import GatewayConfig
from covenant.gateway.documents import AcceptedDoc, ProblemDoc
from covenant.gateway.outcomes import Outcomes
from covenant.gateway.problems import validation_problem
from covenant.gateway.verdicts import Link, judge
from covenant.store.protocol import ReadStore

Actor = Annotated[
    str,
    Header(
        alias="X-Covenant-Actor",
        min_length=1,
        max_length=256,
        description="Who asks; recorded as meta.actor. A placeholder until Kernel "
        "mTLS authentication lands: today it is taken on trust.",
    ),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=256,
        description="Your key for this request (meta.idempotencyKey): a retry with the "
        "same key is not decided twice. A retry produces no new outcome, so its wait "
        "ends in 202; read the resource instead.",
    ),
]
Wait = Annotated[
    float | None,
    Query(
        ge=0,
        description="Seconds to wait for the outcome. Without it (or when it does not "
        "come in time) the answer is 202 with a status link.",
    ),
]

_MEANINGS = {
    400: "Malformed request (bad JSON, or an artifact name that could escape a folder)",
    403: "Refused: forbidden, against a policy, or over a quota (refusal codes listed)",
    404: "No such resource (yet: read models follow the log within moments), or the "
    "command names an entity that does not exist",
    409: "Conflicts with what is registered (the id or version exists)",
    413: "Body over the configured limit; nothing was stored",
    422: "Invalid request, or refused by the worker that decides (reasons listed)",
    500: "The command could not be handled (dead-lettered) or an internal error",
    503: "The log or a store is unavailable; retry after Retry-After",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for problem answers (``app.py`` files them under
    ``application/problem+json``)."""
    return {status: {"model": ProblemDoc, "description": _MEANINGS[status]} for status in statuses}


Endpoint = TypeVar("Endpoint", bound=Callable[..., Awaitable[Response]])


def read_route(
    router: APIRouter, path: str, tag: str, model: type[BaseModel] | None, *problems: int
) -> Callable[[Endpoint], Endpoint]:
    """Mount a ``GET`` handler whose docstring is its API reference: the first line
    the summary, the rest the description; its name is the route's name. What a
    reader of the code sees is what the OpenAPI document says."""

    def mount(handler: Endpoint) -> Endpoint:
        summary, _, description = inspect.cleandoc(handler.__doc__ or "").partition("\n")
        router.get(
            path,
            tags=[tag],
            summary=summary.rstrip("."),
            description=description.strip(),
            response_model=model,
            responses=problem_responses(*problems),
        )(handler)
        return handler

    return mount


@dataclass(frozen=True, slots=True)
class Gateway:
    """The opened resources and the outcome follower, shared by every route."""

    bus: Bus
    store: ReadStore
    blobs: BlobStore
    codec: Codec
    outcomes: Outcomes
    config: GatewayConfig

    def wait_seconds(self, wait: float | None) -> float:
        """``wait`` checked against the configured maximum (0 when not given)."""
        if wait is not None and wait > self.config.max_wait_s:
            raise validation_problem(
                [
                    {
                        "loc": ("query", "wait"),
                        "msg": f"Input should be less than or equal to {self.config.max_wait_s}",
                    }
                ]
            )
        return wait or 0.0

    async def submit(self, command: Message, *, wait_s: float) -> Message | None:
        """Publish ``command``; with ``wait_s``, the event that answers it, or None
        when none came in time. The waiter is registered before publishing."""
        record = self.codec.outgoing(command)
        command_id = command.meta.event_id
        if wait_s <= 0:
            await self.bus.publish([record])
            self.outcomes.published(command_id)
            return None
        with self.outcomes.expect(command_id) as waiter:
            await self.bus.publish([record])
            self.outcomes.published(command_id)
            if waiter is None:
                return None
            return await self.outcomes.wait(waiter, wait_s)

    def answer(
        self,
        request: Request,
        command: Message,
        outcome: Message | None,
        *,
        resource: Link | None = None,
        artifact_id: str | None = None,
    ) -> Response:
        """201 with the resource, the refusal as a problem, or 202 with a status link
        when there is no outcome (yet); an upload's 202 names the stored bytes."""
        command_id = command.meta.event_id
        if outcome is None:
            status_url = str(request.url_for("get_command", command_id=command_id))
            doc = AcceptedDoc(
                command_id=command_id,
                status_url=status_url,
                resource_url=_url(request, resource),
                artifact_id=artifact_id,
                checksum=artifact_id,
            )
            body = doc.model_dump(mode="json", by_alias=True, exclude_none=True)
            return json_response(body, 202, headers={"Location": status_url})
        verdict = judge(outcome, command_id)
        if verdict.problem is not None:
            raise verdict.problem
        location = _url(request, verdict.resource)
        headers = {"Location": location} if location else None
        return json_response(verdict.result, 201, headers=headers)


def _url(request: Request, link: Link | None) -> str | None:
    return None if link is None else str(request.url_for(link[0], **link[1]))


def json_response(
    body: object, status: int = 200, *, headers: dict[str, str] | None = None
) -> Response:
    """A JSON response serialized once by ``json.dumps``, skipping FastAPI's
    encoder (the documents are JSON-ready already)."""
    return Response(
        json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(),
        status_code=status,
        headers=headers,
        media_type="application/json",
    )
