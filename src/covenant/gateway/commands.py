"""Registering datasets and models, and asking what became of a command.

The bodies are the commands' fields without their metadata, spelled as in the
Avro contract (camelCase); the gateway checks only their shape. Whether a version
is SemVer, unique, or names lineage that exists is decided by the worker that owns
the entity, so each rule lives in one place (``covenant.catalog``) and an HTTP
caller and a Kafka producer are judged alike. A test pins these bodies to the
command models, so the contract and the HTTP API cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import Base64Bytes, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from covenant.events.base import Message
from covenant.events.datasets import ProvenanceReview, RegisterDataset, Transformation
from covenant.events.registry import ModelLineage, RegisterModel
from covenant.gateway.context import (
    Actor,
    Gateway,
    IdempotencyKey,
    Wait,
    json_response,
    problem_responses,
    read_route,
)
from covenant.gateway.documents import (
    AcceptedDoc,
    CommandStatusDoc,
    DatasetRegisteredDoc,
    ModelRegisteredDoc,
)
from covenant.gateway.problems import Problem
from covenant.gateway.verdicts import Link, judge


class _Body(BaseModel):
    """A command body: camelCase only, nothing unknown, finite numbers (JSON has
    no NaN, and a NaN metric could not be stored)."""

    model_config = ConfigDict(
        alias_generator=to_camel, extra="forbid", frozen=True, allow_inf_nan=False
    )

    def fields(self, *, exclude: set[str] | None = None) -> dict[str, Any]:
        """The command's fields: ``model_dump``, except that bytes stay the decoded
        bytes (``Base64Bytes`` would dump back to its base64 text, and a signature
        re-encoded is a signature that no longer verifies)."""
        values = self.model_dump(exclude=exclude)
        for name in values:
            raw = getattr(self, name)
            if isinstance(raw, bytes):
                values[name] = raw
        return values


class RegisterDatasetBody(_Body):
    """A dataset to register: ``dataset.register`` without its metadata."""

    dataset_id: str = Field(description="unique and immutable; a new version is a new id")
    artifact_id: str = Field(
        description="sha256:<hex> of the dataset's bytes, uploaded first with "
        "POST /artifact/upload; it becomes the lineage checksum"
    )
    source_refs: list[str] = Field(default_factory=list)
    transformations: list[Transformation] = Field(default_factory=list)
    license: str
    pii_flags: list[str] = Field(
        default_factory=list, description="any flag blocks training until approved"
    )
    provenance_review: ProvenanceReview = ProvenanceReview.PENDING


class RegisterModelBody(_Body):
    """A model version to register: ``model.register`` without its metadata."""

    family: str
    version: str = Field(description="SemVer 2.0.0, unique within the family")
    code_ref: str = Field(description="git URL and commit (repo#sha)")
    artifact_id: str = Field(description="sha256:<hex> of the uploaded weights")
    metrics: dict[str, float] = Field(default_factory=dict)
    lineage: ModelLineage = Field(default_factory=ModelLineage)
    provenance: dict[str, str] = Field(default_factory=dict)
    signer_id: str | None = None
    signature: Base64Bytes | None = Field(default=None, description="base64")


@dataclass(frozen=True)
class CommandRoute:
    """One ``POST`` that publishes a command: what it is called, what it takes, and
    where the entity it creates is read. Each capability declares its routes with
    these, so every command endpoint answers alike (202 with a status link, or
    ``?wait`` for 201 / a problem from the refusal codes)."""

    path: str
    name: str
    tag: str
    summary: str
    description: str
    body: type[_Body]
    command: type[Message]
    created: type[BaseModel]
    subject: Callable[[Any], str]
    resource: Callable[[Any], Link]


def add_command_route(router: APIRouter, gateway: Gateway, route: CommandRoute) -> None:
    """Mount ``route``: the body becomes ``route.command`` with fresh metadata."""
    producer = gateway.config.producer

    async def submit(
        request: Request,
        body: _Body,
        wait: Wait = None,
        actor: Actor = "anonymous",
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        command = route.command.create(
            subject=route.subject(body),
            actor=actor,
            producer=producer,
            idempotency_key=idempotency_key,
            **body.fields(),
        )
        outcome = await gateway.submit(command, wait_s=gateway.wait_seconds(wait))
        return gateway.answer(request, command, outcome, resource=route.resource(body))

    # FastAPI reads the body's model from the annotation, so it names this route's.
    submit.__annotations__["body"] = route.body
    router.post(
        route.path,
        name=route.name,
        tags=[route.tag],
        summary=route.summary,
        description=route.description,
        status_code=202,
        responses={
            201: {"model": route.created, "description": "Created (with ?wait)"},
            202: {"model": AcceptedDoc, "description": "Accepted; poll the status link"},
            **problem_responses(400, 403, 404, 409, 413, 422, 500, 503),
        },
    )(submit)


CATALOG_ROUTES = (
    CommandRoute(
        path="/dataset/register",
        name="register_dataset",
        tag="datasets",
        summary="Register a dataset with its lineage",
        description="Publishes `dataset.register`. The datasets worker records the "
        "lineage with the uploaded bytes' checksum; data flagged for PII or without a "
        "passed provenance review is registered *blocked* for training.",
        body=RegisterDatasetBody,
        command=RegisterDataset,
        created=DatasetRegisteredDoc,
        subject=lambda body: f"dataset:{body.dataset_id}",
        resource=lambda body: ("get_dataset", {"dataset_id": body.dataset_id}),
    ),
    CommandRoute(
        path="/models/register",
        name="register_model",
        tag="models",
        summary="Register a model version",
        description="Publishes `model.register`. The registry worker accepts a new "
        "SemVer version of the family whose artifact is stored and whose lineage "
        "names registered datasets and models; it starts as `draft`.",
        body=RegisterModelBody,
        command=RegisterModel,
        created=ModelRegisteredDoc,
        subject=lambda body: f"model:{body.family}:{body.version}",
        resource=lambda body: ("get_model", {"model_id": f"{body.family}:{body.version}"}),
    ),
)


def add_command_routes(router: APIRouter, gateway: Gateway) -> None:
    """Add ``POST /dataset/register``, ``POST /models/register``, ``GET /commands/{id}``."""
    for route in CATALOG_ROUTES:
        add_command_route(router, gateway, route)

    @read_route(router, "/commands/{command_id}", "commands", CommandStatusDoc, 404)
    async def get_command(command_id: str) -> Response:
        """What became of a command.

        Answers from this gateway's memory of recent outcomes: `pending` for a command it
        published and saw no outcome of yet, `succeeded` with the resource document,
        or `rejected`/`failed` with the problem. 404 for a command it never saw
        (published elsewhere and still pending, or long forgotten)."""
        outcome = gateway.outcomes.outcome(command_id)
        if outcome is not None:
            verdict = judge(outcome, command_id)
            doc = CommandStatusDoc(
                command_id=command_id,
                status=verdict.status,
                result=verdict.result,
                problem=None if verdict.problem is None else verdict.problem.document(),
            )
            return Response(doc.json_bytes(), media_type="application/json")
        if gateway.outcomes.is_pending(command_id):
            pending = CommandStatusDoc(command_id=command_id, status="pending")
            return json_response(
                pending.model_dump(mode="json", by_alias=True), headers={"Retry-After": "1"}
            )
        raise Problem(
            404,
            "not-found",
            f"command {command_id!r} is unknown to this gateway: it may still be on its "
            "way, or be older than the outcomes it remembers; read the resource instead",
            title="Unknown command",
        )
