"""Drift over HTTP: the spec's ``GET /drift/{modelId}`` and ``POST /drift/alert``, and
the human decisions drift waits for.

Reads come from :class:`~covenant.drift.history.DriftHistory`, folded from the drift
events and caught up before each read. Writes are commands for the drift worker,
which decides: an alert from outside (``drift.report``) triggers the same
remediation as a scored one; approving a retrain and signing a quarantine off carry
a signature made on the approver's machine (``covenant drift approve`` /
``covenant drift signoff``), checked by the worker against the approvers file.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import Field

from covenant.bus.protocol import Bus
from covenant.drift.history import DriftHistory, ProposalView, QuarantineView
from covenant.events.base import new_event_id
from covenant.events.codec import Codec
from covenant.events.drift import (
    AlertSeverity,
    ApproveRetrain,
    DriftScored,
    ObserveLabel,
    QuarantineApplied,
    ReportAlert,
    RetrainProposed,
    SignedDecision,
    SignOffQuarantine,
)
from covenant.gateway._views import TableView
from covenant.gateway.commands import _Body
from covenant.gateway.context import Actor, Gateway, Wait, json_response, problem_responses
from covenant.gateway.problems import Problem
from covenant.gateway.promotion import ApproveBody

__all__ = ["DriftView", "add_drift_routes"]

TAG = "drift"


def _json(model: Any) -> Any:
    return model.model_dump(mode="json", by_alias=True, exclude={"meta"})


def _with_meta(model: Any) -> dict[str, Any]:
    doc: dict[str, Any] = _json(model)
    doc["eventId"] = model.meta.event_id
    doc["occurredAt"] = model.meta.occurred_at.isoformat()
    return doc


def _summary(scored: DriftScored) -> dict[str, Any]:
    """One window in a line of history: each column's verdict statistic and threshold."""
    return {
        "eventId": scored.meta.event_id,
        "deployId": scored.deploy_id,
        "window": scored.window,
        "closedAt": scored.closed_at.isoformat(),
        "rows": scored.rows,
        "drifted": scored.drifted,
        "rejected": dict(scored.rejected),
        "columns": {
            c.column: {
                "statistic": p.name,
                "value": p.value,
                "threshold": p.threshold,
                "drifted": c.drifted,
            }
            for c in scored.columns
            for p in c.statistics
            if p.primary
        },
        "outcomes": {o.name: {"current": o.current, "drifted": o.drifted} for o in scored.outcomes},
    }


def proposal_document(view: ProposalView) -> dict[str, Any]:
    proposed = view.proposed
    return {
        **_with_meta(proposed),
        "status": "approved" if view.approved is not None else "awaiting_approval",
        "approved": _with_meta(view.approved) if view.approved is not None else None,
        "refusals": [_json(r) for r in view.refusals],
    }


def quarantine_document(view: QuarantineView) -> dict[str, Any]:
    return {
        **_with_meta(view.applied),
        "status": "released" if view.released is not None else "in_force",
        "signedBy": [s.approver_id for s in view.signoffs],
        "released": _with_meta(view.released) if view.released is not None else None,
        "refusals": [_json(r) for r in view.refusals],
    }


class DriftView(TableView[DriftHistory]):
    """The drift history, read again; every read is a read barrier."""

    def __init__(self, *, bus: Bus, codec: Codec) -> None:
        super().__init__(bus=bus, codec=codec, state=DriftHistory())

    async def model(self, model_id: str, *, limit: int) -> dict[str, Any] | None:
        await self.catch_up()
        drift = self._state.models.get(model_id)
        if drift is None:
            return None
        windows = list(drift.windows)
        latest: dict[str, DriftScored] = {}
        for scored in windows:
            latest[scored.deploy_id] = scored
        return {
            "modelId": model_id,
            "latest": [_with_meta(s) for s in latest.values()],
            "history": [_summary(s) for s in windows[-limit:]],
            "windowsKept": len(windows),
            "alerts": [_with_meta(a) for a in list(drift.alerts)[-limit:]],
            "findings": [_with_meta(f) for f in list(drift.findings)[-limit:]],
            "proposals": [proposal_document(self._state.proposals[p]) for p in drift.proposals],
            "quarantines": [
                quarantine_document(self._state.quarantines[q]) for q in drift.quarantines
            ],
        }

    async def proposal(self, proposal_id: str) -> ProposalView | None:
        await self.catch_up()
        return self._state.proposals.get(proposal_id)

    async def quarantine(self, quarantine_id: str) -> QuarantineView | None:
        await self.catch_up()
        return self._state.quarantines.get(quarantine_id)


class AlertBody(_Body):
    """An alert from outside: a monitoring system or a person (the spec's
    ``POST /drift/alert``); ``safety`` quarantines, ``drift`` proposes a retrain."""

    model_id: str = Field(description="family:version")
    route: str = Field(description="the route it serves on")
    severity: AlertSeverity
    reason: str = Field(min_length=1)
    features: list[str] = Field(default_factory=list)
    source: str = Field(min_length=1, description="who raised it")
    alert_id: str | None = Field(default=None, description="made here when not given")


class LabelItem(_Body):
    request_id: str = Field(min_length=1, description="as the server answered it, with #row")
    label: str


class LabelsBody(_Body):
    """Ground truth that arrived after the answers, matched to them by request id."""

    route: str
    labels: list[LabelItem] = Field(min_length=1, max_length=10_000)


class DecisionBody(ApproveBody):
    """One approver's signed decision (see ``covenant drift approve``): the fields of a
    promotion approval, signed over drift's own tag (``covenant.drift.signoff``)."""

    def decision(self) -> SignedDecision:
        return SignedDecision(**self.fields())


def add_drift_routes(router: APIRouter, gateway: Gateway, drift: DriftView) -> None:
    """Add the drift routes."""
    producer = gateway.config.producer

    async def decide(
        request: Request,
        kind: type[ApproveRetrain | SignOffQuarantine],
        first: RetrainProposed | QuarantineApplied,
        body: DecisionBody,
        wait: float | None,
        actor: str,
        **subject: Any,
    ) -> Response:
        """Publish one signed decision on what ``first`` opened, in its flow and on its
        route; the worker checks the signature and answers."""
        command = kind.create(
            subject=f"route:{first.route}", actor=actor, producer=producer,
            correlation_id=first.meta.correlation_id, route=first.route,
            decision=body.decision(), **subject,
        )  # fmt: skip
        outcome = await gateway.submit(command, wait_s=gateway.wait_seconds(wait))
        return gateway.answer(request, command, outcome)

    @router.get("/drift/proposals/{proposal_id}", name="get_retrain_proposal", tags=[TAG])
    async def get_proposal(proposal_id: str) -> Response:
        """A retrain proposal: the exact training request, its lineage, cost estimate and
        quota check, the digest approvers sign, and whether it was approved."""
        view = await drift.proposal(proposal_id)
        if view is None:
            raise Problem(404, "not-found", f"no retrain proposal {proposal_id!r} is known")
        return json_response(proposal_document(view))

    @router.get("/drift/quarantines/{quarantine_id}", name="get_quarantine", tags=[TAG])
    async def get_quarantine(quarantine_id: str) -> Response:
        """A quarantine: the model held off every route, who has signed it off, and how
        many sign-offs its release needs."""
        view = await drift.quarantine(quarantine_id)
        if view is None:
            raise Problem(404, "not-found", f"no quarantine {quarantine_id!r} is known")
        return json_response(quarantine_document(view))

    @router.get("/drift/{model_id}", name="get_drift", tags=[TAG])
    async def get_drift(
        model_id: str,
        limit: int = Query(default=100, ge=1, le=500, description="history entries"),
    ) -> Response:
        """A model version's drift: the latest window per deployment with every score,
        threshold and histogram, the history (each column's verdict statistic and
        threshold per window), alerts, findings, retrain proposals and quarantines."""
        doc = await drift.model(model_id, limit=limit)
        if doc is None:
            raise Problem(404, "not-found", f"no drift is known for {model_id!r} (yet)")
        return json_response(doc)

    @router.post(
        "/drift/alert",
        name="report_drift_alert",
        tags=[TAG],
        summary="Raise a drift or safety alert from outside",
        description="Publishes `drift.report`; the drift worker answers it as it answers "
        "its own alerts: `drift` prepares a retrain proposal for a person to approve, "
        "`safety` quarantines the version (traffic back to the last good one) until "
        "signed off. `?wait` answers with the alert, or 404 for an unknown model.",
        status_code=202,
        responses=problem_responses(404, 422, 503),
    )
    async def report_alert(
        request: Request, body: AlertBody, wait: Wait = None, actor: Actor = "anonymous"
    ) -> Response:
        command = ReportAlert.create(
            subject=f"route:{body.route}",
            actor=actor,
            producer=producer,
            alert_id=body.alert_id or f"alert-{new_event_id()[-12:]}",
            route=body.route,
            model_id=body.model_id,
            severity=body.severity,
            reason=body.reason,
            features=body.features,
            source=body.source,
        )
        outcome = await gateway.submit(command, wait_s=gateway.wait_seconds(wait))
        return gateway.answer(request, command, outcome)

    @router.post(
        "/drift/labels",
        name="post_drift_labels",
        tags=[TAG],
        summary="Send late ground truth for served answers",
        description="Publishes one `drift.label` per label on the route's labels topic; "
        "the drift worker matches each to its answer by request id (within the window "
        "it was served in or the next) and scores performance drift once it has them.",
        status_code=202,
        responses=problem_responses(422, 503),
    )
    async def post_labels(body: LabelsBody, actor: Actor = "anonymous") -> Response:
        commands = [
            ObserveLabel.create(
                subject=f"route:{body.route}",
                actor=actor,
                producer=producer,
                route=body.route,
                request_id=item.request_id,
                label=item.label,
            )
            for item in body.labels
        ]
        await gateway.bus.publish([gateway.codec.outgoing(c) for c in commands])
        return json_response({"accepted": len(commands), "route": body.route}, 202)

    @router.post(
        "/drift/proposals/{proposal_id}/approve",
        name="approve_retrain",
        tags=[TAG],
        summary="Approve a retrain proposal: the worker then submits its training request",
        status_code=202,
        responses=problem_responses(403, 404, 409, 503),
    )
    async def approve_retrain(
        request: Request,
        proposal_id: str,
        body: DecisionBody,
        wait: Wait = None,
        actor: Actor = "anonymous",
    ) -> Response:
        view = await drift.proposal(proposal_id)
        if view is None:
            raise Problem(404, "not-found", f"no retrain proposal {proposal_id!r} is known")
        return await decide(
            request, ApproveRetrain, view.proposed, body, wait, actor, proposal_id=proposal_id
        )

    @router.post(
        "/drift/quarantines/{quarantine_id}/signoff",
        name="signoff_quarantine",
        tags=[TAG],
        summary="Sign a quarantine off; enough distinct sign-offs release the version",
        status_code=202,
        responses=problem_responses(403, 404, 409, 503),
    )
    async def signoff_quarantine(
        request: Request,
        quarantine_id: str,
        body: DecisionBody,
        wait: Wait = None,
        actor: Actor = "anonymous",
    ) -> Response:
        view = await drift.quarantine(quarantine_id)
        if view is None:
            raise Problem(404, "not-found", f"no quarantine {quarantine_id!r} is known")
        return await decide(
            request, SignOffQuarantine, view.applied, body, wait, actor,
            quarantine_id=quarantine_id,
        )  # fmt: skip
