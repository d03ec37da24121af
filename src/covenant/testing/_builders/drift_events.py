"""Builders for the drift worker's events (``covenant.events.drift``), with
``drift``'s defaults: producer ``drift``, subject ``route:<route>``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Unpack

from covenant.events import drift as dr
from covenant.testing._builders._meta import Meta, clock_of, strings
from covenant.testing._builders.drift import (
    ALERT_ID,
    ALERT_REASON,
    ALPHA,
    FEATURES,
    FINDING_ID,
    OUTPUT_LABEL,
    PROPOSAL_ID,
    QUARANTINE_ID,
    RETRAIN_COST,
    RETRAIN_QUOTA,
    WINDOW_ROWS,
    column_drift,
    drift_cause,
    profile_id,
    quarantine_digest,
    retrain_digest,
    retrain_request,
    route_record,
)
from covenant.testing._builders.promotion import APPROVER, MODEL_ID
from covenant.testing._builders.runs import DATASETS, JOB_ID
from covenant.testing._builders.serving import DEPLOY_ID, ROUTE


def drift_window_opened(
    deploy_id: str = DEPLOY_ID,
    *,
    route: str = ROUTE,
    window: int = 0,
    partition: int = 0,
    offset: int = 0,
    **meta: Unpack[Meta],
) -> dr.DriftWindowOpened:
    """A ``drift.window_opened`` event: window 0 of ``deploy-1`` begins at offset 0."""
    return route_record(
        dr.DriftWindowOpened,
        meta,
        route,
        deploy_id=deploy_id,
        window=window,
        partition=partition,
        offset=offset,
    )


def drift_scored(
    deploy_id: str = DEPLOY_ID,
    *,
    route: str = ROUTE,
    model_id: str = MODEL_ID,
    window: int = 0,
    opened_at: datetime | None = None,
    closed_at: datetime | None = None,
    rows: int = WINDOW_ROWS,
    rejected: Mapping[str, int] | None = None,
    partition: int = 0,
    first_offset: int = 0,
    last_offset: int | None = None,
    reference_profile_id: str | None = None,
    alpha: float = ALPHA,
    drifted_columns: Sequence[str] = (),
    columns: Sequence[dr.ColumnDrift] | None = None,
    outcomes: Sequence[dr.RateDrift] = (),
    drifted: bool | None = None,
    **meta: Unpack[Meta],
) -> dr.DriftScored:
    """A ``drift.scored`` event: window 0 of ``deploy-1``, ``rows`` samples at offsets
    ``first_offset`` on, closed at the clock's now after five minutes, scored against
    ``profile_id(model_id)``. ``columns`` are ``column_drift`` of each of ``FEATURES``
    and ``output:label``, those in ``drifted_columns`` drifted; ``drifted`` is whether
    any column or outcome drifted unless told."""
    marked = set(strings("drifted_columns", drifted_columns))
    closed = closed_at if closed_at is not None else clock_of(meta).now()
    chosen = (
        list(columns)
        if columns is not None
        else [column_drift(name, drifted=name in marked) for name in (*FEATURES, OUTPUT_LABEL)]
    )
    if unknown := sorted(marked - {c.column for c in chosen}):
        raise ValueError(f"drifted_columns names columns the window lacks: {unknown}")
    rates = list(outcomes)
    return route_record(
        dr.DriftScored,
        meta,
        route,
        deploy_id=deploy_id,
        model_id=model_id,
        window=window,
        opened_at=opened_at if opened_at is not None else closed - timedelta(minutes=5),
        closed_at=closed,
        rows=rows,
        rejected=dict(rejected or {}),
        span=dr.WindowSpan(
            partition=partition,
            first_offset=first_offset,
            last_offset=last_offset if last_offset is not None else first_offset + rows - 1,
        ),
        reference_profile_id=reference_profile_id
        if reference_profile_id is not None
        else profile_id(model_id),
        alpha=alpha,
        columns=chosen,
        outcomes=rates,
        drifted=drifted
        if drifted is not None
        else any(c.drifted for c in chosen) or any(o.drifted for o in rates),
    )


def drift_alerted(
    alert_id: str = ALERT_ID,
    *,
    route: str = ROUTE,
    deploy_id: str | None = DEPLOY_ID,
    model_id: str = MODEL_ID,
    severity: dr.AlertSeverity = dr.AlertSeverity.DRIFT,
    source: str = "drift-worker",
    reason: str = ALERT_REASON,
    features: Sequence[str] = ("f0",),
    windows: Sequence[int] = (0,),
    remediation: dr.Remediation | None = None,
    **meta: Unpack[Meta],
) -> dr.DriftAlerted:
    """A ``drift.alert`` event: ``f0`` drifted in window 0 of ``deploy-1``; the
    remediation is the worker's rule unless told (``safety`` quarantines, ``drift``
    proposes a retrain)."""
    if remediation is None:
        safety = severity is dr.AlertSeverity.SAFETY
        remediation = dr.Remediation.QUARANTINE if safety else dr.Remediation.RETRAIN
    return route_record(
        dr.DriftAlerted,
        meta,
        route,
        alert_id=alert_id,
        deploy_id=deploy_id,
        model_id=model_id,
        severity=severity,
        source=source,
        reason=reason,
        features=strings("features", features),
        windows=list(windows),
        remediation=remediation,
    )


def drift_finding(
    finding_id: str = FINDING_ID,
    *,
    alert_id: str = ALERT_ID,
    route: str = ROUTE,
    model_id: str = MODEL_ID,
    reference_profile_id: str | None = None,
    scored_event_ids: Sequence[str] = (),
    windows: Sequence[int] = (0,),
    features: Sequence[str] = ("f0",),
    statistics: Sequence[str] | None = None,
    remediation: dr.Remediation = dr.Remediation.RETRAIN,
    remediation_event_id: str | None = None,
    **meta: Unpack[Meta],
) -> dr.DriftFinding:
    """A ``drift.finding`` event explaining ``drift_alerted()``: ``f0``'s KS in window
    0 against ``profile_id(model_id)``, leading to a retrain (pass the scored windows'
    and the remediation's event ids to link them)."""
    return route_record(
        dr.DriftFinding,
        meta,
        route,
        finding_id=finding_id,
        alert_id=alert_id,
        model_id=model_id,
        reference_profile_id=reference_profile_id
        if reference_profile_id is not None
        else profile_id(model_id),
        scored_event_ids=strings("scored_event_ids", scored_event_ids),
        windows=list(windows),
        features=strings("features", features),
        statistics=strings("statistics", statistics) if statistics is not None else [drift_cause()],
        remediation=remediation,
        remediation_event_id=remediation_event_id,
    )


def retrain_proposed(
    proposal_id: str = PROPOSAL_ID,
    *,
    alert_id: str = ALERT_ID,
    route: str = ROUTE,
    model_id: str = MODEL_ID,
    request: dr.RetrainRequest | None = None,
    lineage: dr.RetrainLineage | None = None,
    cost: dr.CostEstimate | None = RETRAIN_COST,
    quota: dr.QuotaCheck | None = RETRAIN_QUOTA,
    request_digest: str | None = None,
    **meta: Unpack[Meta],
) -> dr.RetrainProposed:
    """A ``retrain.proposed`` event: ``retrain_request(proposal_id)``, descending from
    ``job-1`` on ``d1``; an hour of CPU in ``cpu-local`` at ``0.10`` that fits the
    team's quota; ``request_digest`` the request's, as approvers sign it."""
    chosen = request if request is not None else retrain_request(proposal_id, alert_id=alert_id)
    return route_record(
        dr.RetrainProposed,
        meta,
        route,
        proposal_id=proposal_id,
        alert_id=alert_id,
        model_id=model_id,
        request=chosen,
        lineage=lineage
        if lineage is not None
        else dr.RetrainLineage(
            parent_model_id=model_id,
            parent_job_id=JOB_ID,
            parent_datasets=list(DATASETS),
            datasets=list(chosen.dataset_refs),
            alert_id=alert_id,
            windows=[0],
        ),
        cost=cost,
        quota=quota,
        request_digest=request_digest
        if request_digest is not None
        else retrain_digest(proposal_id, chosen),
    )


def retrain_approved(
    proposal_id: str = PROPOSAL_ID,
    *,
    route: str = ROUTE,
    approver_id: str = APPROVER,
    job_id: str | None = None,
    nonce: str = "nonce-1",
    **meta: Unpack[Meta],
) -> dr.RetrainApproved:
    """A ``retrain.approved`` event: ``approve_retrain()`` accepted, job
    ``<proposal_id>-job`` submitted."""
    return route_record(
        dr.RetrainApproved,
        meta,
        route,
        proposal_id=proposal_id,
        approver_id=approver_id,
        job_id=job_id if job_id is not None else f"{proposal_id}-job",
        nonce=nonce,
    )


def quarantine_applied(
    quarantine_id: str = QUARANTINE_ID,
    *,
    alert_id: str = ALERT_ID,
    route: str = ROUTE,
    model_id: str = MODEL_ID,
    deploy_id: str | None = DEPLOY_ID,
    required_signoffs: int = 1,
    request_digest: str | None = None,
    **meta: Unpack[Meta],
) -> dr.QuarantineApplied:
    """A ``quarantine.applied`` event: ``vit:1.0.0`` taken off ``deploy-1`` for
    ``alert-1``, released by one sign-off; ``request_digest`` as approvers sign it."""
    return route_record(
        dr.QuarantineApplied,
        meta,
        route,
        quarantine_id=quarantine_id,
        alert_id=alert_id,
        model_id=model_id,
        deploy_id=deploy_id,
        required_signoffs=required_signoffs,
        request_digest=request_digest
        if request_digest is not None
        else quarantine_digest(quarantine_id, model_id, alert_id),
    )


def quarantine_signed_off(
    quarantine_id: str = QUARANTINE_ID,
    *,
    route: str = ROUTE,
    approver_id: str = APPROVER,
    signoffs: int = 1,
    required_signoffs: int = 1,
    nonce: str = "nonce-1",
    **meta: Unpack[Meta],
) -> dr.QuarantineSignedOff:
    """A ``quarantine.signed`` event: ``sign_off_quarantine()`` accepted, the first of one."""
    return route_record(
        dr.QuarantineSignedOff,
        meta,
        route,
        quarantine_id=quarantine_id,
        approver_id=approver_id,
        signoffs=signoffs,
        required_signoffs=required_signoffs,
        nonce=nonce,
    )


def quarantine_released(
    quarantine_id: str = QUARANTINE_ID,
    *,
    route: str = ROUTE,
    model_id: str = MODEL_ID,
    approvers: Sequence[str] = (APPROVER,),
    **meta: Unpack[Meta],
) -> dr.QuarantineReleased:
    """A ``quarantine.released`` event: signed off by the approver."""
    return route_record(
        dr.QuarantineReleased,
        meta,
        route,
        quarantine_id=quarantine_id,
        model_id=model_id,
        approvers=strings("approvers", approvers),
    )


def drift_decision_refused(
    subject_id: str = PROPOSAL_ID,
    *,
    route: str = ROUTE,
    code: str = "unknown_proposal",
    reason: str | None = None,
    **meta: Unpack[Meta],
) -> dr.DriftDecisionRefused:
    """A ``drift.refused`` event: an approval of a proposal the worker does not know."""
    return route_record(
        dr.DriftDecisionRefused,
        meta,
        route,
        subject_id=subject_id,
        code=code,
        reason=reason if reason is not None else f"no retrain proposal {subject_id!r}",
    )
