"""What an outcome event means for the caller: a resource (201) or a problem.

Workers decide; this module only translates their decision into HTTP. The status
of a refusal comes from the refusals' codes (``covenant.events.refusals``), never
from their wording: the most specific code wins, in the order of ``_STATUS``. An
event written before refusals had codes (0.1.0) carries none and answers 422.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from covenant.events.artifacts import ArtifactRejected, ArtifactStored
from covenant.events.base import Message
from covenant.events.datasets import DatasetRegistered, DatasetRejected
from covenant.events.deadletter import DeadLettered
from covenant.events.drift import DriftDecisionRefused, RetrainApproved
from covenant.events.evaluation import EvaluationCompleted, EvaluationFailed
from covenant.events.promotion import ApprovalRefused, LifecycleRefused, ManifestRefused
from covenant.events.refusals import Refusal, RefusalCode
from covenant.events.registry import ModelRegistered, ModelRejected
from covenant.events.training import TrainingCancelled, TrainingQueued, TrainingRejected
from covenant.gateway.documents import (
    ArtifactStoredDoc,
    DatasetRegisteredDoc,
    Document,
    EvaluationDoc,
    ModelEntryDoc,
    ModelRegisteredDoc,
)
from covenant.gateway.job_documents import TrainingCancelledDoc, TrainingJobDoc
from covenant.gateway.problems import Problem

# Most specific first: a request that is both a duplicate and malformed is a conflict.
_STATUS: tuple[tuple[RefusalCode, int, str], ...] = (
    (RefusalCode.CONFLICT, 409, "already registered"),
    (RefusalCode.FORBIDDEN, 403, "forbidden"),
    (RefusalCode.POLICY, 403, "refused by policy"),
    (RefusalCode.QUOTA, 403, "over quota"),
    (RefusalCode.NOT_FOUND, 404, "not found"),
    (RefusalCode.INVALID, 422, "rejected"),
)  # The problem ``type`` URNs 0.1.0 already answered with keep their names.
_KINDS = {RefusalCode.CONFLICT: "conflict", RefusalCode.INVALID: "rejected"}

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


def refusal(
    reasons: Sequence[str], refusals: Sequence[Refusal], *, command_id: str, what: str
) -> Problem:
    """The problem for a refused command: status and type from the most specific
    refusal code, every reason listed (as text, and structured)."""
    codes = {r.code for r in refusals}
    code, status, verb = next((entry for entry in _STATUS if entry[0] in codes), _STATUS[-1])
    return Problem(
        status,
        _KINDS.get(code, code.value.replace("_", "-")),
        "; ".join(reasons),
        title=f"{what} {verb}",
        reasons=list(reasons),
        refusals=[r.model_dump(mode="json", by_alias=True) for r in refusals],
        commandId=command_id,
    )


def _refused(
    event: ApprovalRefused | ManifestRefused | LifecycleRefused, command_id: str
) -> Problem:
    """A promotion-side refusal: 403 for an approval that does not count, 409 for a
    lifecycle change the version's status does not allow, 422 for a manifest."""
    if isinstance(event, ApprovalRefused):
        return Problem(
            403, "forbidden", event.reason, title="Approval refused", commandId=command_id
        )
    if isinstance(event, LifecycleRefused):
        return Problem(
            409, "conflict", event.reason, title=f"Cannot {event.action}", commandId=command_id
        )
    return Problem(422, "rejected", event.reason, title="Manifest not signed", commandId=command_id)


# A drift decision's refusal code → status: a signature that does not count is 403,
# a thing that is not there 404, a decision made already 409.
_DRIFT_STATUS = {
    "approval_refused": (403, "forbidden"),
    "signoff_refused": (403, "forbidden"),
    "unknown_proposal": (404, "not-found"),
    "unknown_model": (404, "not-found"),
    "not_quarantined": (409, "conflict"),
    "already_approved": (409, "conflict"),
}


def _drift_refused(event: DriftDecisionRefused, command_id: str) -> Problem:
    status, kind = _DRIFT_STATUS.get(event.code, (422, "rejected"))
    return Problem(
        status, kind, event.reason, title="Drift decision refused", code=event.code,
        commandId=command_id,
    )  # fmt: skip


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
            return Verdict(
                problem=refusal(
                    event.reasons, event.refusals, command_id=command_id, what="Dataset"
                )
            )
        case ModelRegistered():
            entry = ModelEntryDoc.model_validate(event.entry, from_attributes=True)
            doc = ModelRegisteredDoc(command_id=command_id, model_id=entry.model_id, entry=entry)
            return _made(doc, ("get_model", {"model_id": entry.model_id}))
        case ModelRejected():
            return Verdict(
                problem=refusal(
                    event.reasons, event.refusals, command_id=command_id, what="Model version"
                )
            )
        case ArtifactStored():
            facts = event.model_dump(exclude={"meta"})
            doc = ArtifactStoredDoc(command_id=command_id, checksum=event.artifact_id, **facts)
            return _made(doc, ("get_artifact", {"artifact_id": event.artifact_id}))
        case ArtifactRejected():
            reasons = [r.message for r in event.refusals] or [event.reason]
            return Verdict(
                problem=refusal(reasons, event.refusals, command_id=command_id, what="Artifact")
            )
        case EvaluationCompleted():
            return _made(EvaluationDoc.of(event), ("get_evaluation", {"eval_id": event.eval_id}))
        case EvaluationFailed():
            return Verdict(
                problem=refusal(
                    event.reasons, event.refusals, command_id=command_id, what="Evaluation"
                )
            )
        case TrainingQueued():
            job_id = event.job.job_id
            doc = TrainingJobDoc.queued(event, command_id)
            return _made(doc, ("get_training_job", {"job_id": job_id}))
        case TrainingRejected():
            return Verdict(
                problem=refusal(
                    event.reasons, event.refusals, command_id=command_id, what="Training job"
                )
            )
        case TrainingCancelled():
            facts = event.model_dump(exclude={"meta"})
            doc = TrainingCancelledDoc(command_id=command_id, **facts)
            return _made(doc, ("get_training_job", {"job_id": event.job_id}))
        case ApprovalRefused() | ManifestRefused() | LifecycleRefused():
            return Verdict(problem=_refused(event, command_id))
        case DriftDecisionRefused():
            return Verdict(problem=_drift_refused(event, command_id))
        case RetrainApproved():
            result = {"commandId": command_id, "event": event.meta.type, "jobId": event.job_id}
            return Verdict(result=result, resource=("get_training_job", {"job_id": event.job_id}))
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
