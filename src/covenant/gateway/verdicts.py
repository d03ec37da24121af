"""What an outcome event means for the caller: a resource (201) or a problem.

Workers decide; this module only translates their decision into HTTP. The one
judgement made here is the status of a refusal: a refusal because the entity is
already registered is a conflict with the current state (409), any other one is a
request that cannot be carried out as given (422). Workers say "already
registered" for exactly that case (``covenant.workers.datasets`` and ``registry``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from covenant.events.artifacts import ArtifactRejected, ArtifactStored
from covenant.events.base import Message
from covenant.events.datasets import DatasetRegistered, DatasetRejected
from covenant.events.deadletter import DeadLettered
from covenant.events.registry import ModelRegistered, ModelRejected
from covenant.gateway.documents import (
    ArtifactStoredDoc,
    DatasetRegisteredDoc,
    Document,
    ModelEntryDoc,
    ModelRegisteredDoc,
)
from covenant.gateway.problems import Problem

CONFLICT_MARK = "already registered"

Link = tuple[str, dict[str, str]]
"""A route name and its path parameters, turned into a URL by the request."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """One outcome, ready to answer with.

    Attributes:
        result: the 201 document (JSON-ready) when the command succeeded.
        problem: the problem when it was refused or could not be handled.
        resource: where the created resource is read, when there is one.
    """

    result: dict[str, Any] | None = None
    problem: Problem | None = None
    resource: Link | None = None

    @property
    def status(self) -> Literal["succeeded", "rejected", "failed"]:
        """The word ``GET /commands/{id}`` uses."""
        if self.problem is None:
            return "succeeded"
        return "failed" if self.problem.status_code >= 500 else "rejected"


def _made(doc: Document, resource: Link) -> Verdict:
    return Verdict(result=doc.model_dump(mode="json", by_alias=True), resource=resource)


def refusal(reasons: Sequence[str], *, command_id: str, what: str) -> Problem:
    """409 when ``what`` exists already, else 422; every reason listed."""
    conflict = any(CONFLICT_MARK in reason for reason in reasons)
    return Problem(
        409 if conflict else 422,
        "conflict" if conflict else "rejected",
        "; ".join(reasons),
        title=f"{what} already registered" if conflict else f"{what} rejected",
        reasons=list(reasons),
        commandId=command_id,
    )


def judge(event: Message, command_id: str) -> Verdict:
    """The verdict ``event`` carries for ``command_id``, the command it answers."""
    match event:
        case DatasetRegistered():
            dataset_id = event.lineage.dataset_id
            doc: Document = DatasetRegisteredDoc(
                command_id=command_id,
                dataset_id=dataset_id,
                clearance=event.clearance,
                block_reasons=event.block_reasons,
                lineage=event.lineage,
            )
            return _made(doc, ("get_dataset", {"dataset_id": dataset_id}))
        case DatasetRejected():
            return Verdict(problem=refusal(event.reasons, command_id=command_id, what="Dataset"))
        case ModelRegistered():
            entry = ModelEntryDoc.model_validate(event.entry, from_attributes=True)
            doc = ModelRegisteredDoc(command_id=command_id, model_id=entry.model_id, entry=entry)
            return _made(doc, ("get_model", {"model_id": entry.model_id}))
        case ModelRejected():
            return Verdict(
                problem=refusal(event.reasons, command_id=command_id, what="Model version")
            )
        case ArtifactStored():
            doc = ArtifactStoredDoc(
                command_id=command_id,
                artifact_id=event.artifact_id,
                checksum=event.artifact_id,
                size_bytes=event.size_bytes,
                name=event.name,
                media_type=event.media_type,
                blob_uri=event.blob_uri,
                git_commit=event.git_commit,
                run_config=event.run_config,
            )
            return _made(doc, ("get_artifact", {"artifact_id": event.artifact_id}))
        case ArtifactRejected():
            return Verdict(problem=refusal([event.reason], command_id=command_id, what="Artifact"))
        case DeadLettered():
            detail = (
                f"the {event.worker} worker gave up on the command after {event.attempts} "
                f"attempt(s): {event.error_class}: {event.error}"
            )
            return Verdict(
                problem=Problem(
                    500,
                    "dead-lettered",
                    detail,
                    title="Command could not be handled",
                    commandId=command_id,
                )
            )
        case _:
            return Verdict(result={"commandId": command_id, "event": event.meta.type})
