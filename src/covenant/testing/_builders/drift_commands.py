"""Builders for drift commands (``covenant.events.drift``), with ``drift``'s defaults.

A sample is what a model server writes; labels, outside alerts and the signed
decisions are what the gateway writes; ``drift.outcome`` is a label as the drift
worker re-keys it onto the samples topic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Unpack

from covenant.events import drift as dr
from covenant.testing._builders._meta import Meta, clock_of, strings
from covenant.testing._builders.drift import (
    ALERT_ID,
    LABEL_EVENT_ID,
    PREDICTION,
    PROPOSAL_ID,
    QUARANTINE_ID,
    REQUEST_ID,
    quarantine_digest,
    retrain_digest,
    retrain_request,
    route_record,
    signed_decision,
)
from covenant.testing._builders.promotion import APPROVER, APPROVER_KEY_ID, MODEL_ID, SIGNATURE
from covenant.testing._builders.serving import DEPLOY_ID, ROUTE


def observe_sample(
    deploy_id: str = DEPLOY_ID,
    *,
    route: str = ROUTE,
    model_id: str = MODEL_ID,
    request_id: str = REQUEST_ID,
    features: Sequence[float] = (0.25, 0.5, 0.75, 1.0),
    categories: Mapping[str, str] | None = None,
    prediction: str | None = PREDICTION,
    attributes: Mapping[str, str] | None = None,
    observed_at: datetime | None = None,
    **meta: Unpack[Meta],
) -> dr.ObserveSample:
    """A ``drift.sample``, as a model server writes it: four numeric features
    (``FEATURES``), predicted ``cat``, answered at the clock's now."""
    return route_record(
        dr.ObserveSample,
        meta,
        route,
        deploy_id=deploy_id,
        model_id=model_id,
        request_id=request_id,
        features=[float(x) for x in features],
        categories=dict(categories or {}),
        prediction=prediction,
        attributes=dict(attributes or {}),
        observed_at=observed_at if observed_at is not None else clock_of(meta).now(),
    )


def observe_label(
    request_id: str = REQUEST_ID,
    *,
    route: str = ROUTE,
    label: str = PREDICTION,
    **meta: Unpack[Meta],
) -> dr.ObserveLabel:
    """A ``drift.label``, as the gateway writes it: ``observe_sample()`` was right."""
    return route_record(dr.ObserveLabel, meta, route, request_id=request_id, label=label)


def observe_outcome(
    request_id: str = REQUEST_ID,
    *,
    route: str = ROUTE,
    label: str = PREDICTION,
    label_event_id: str | None = None,
    **meta: Unpack[Meta],
) -> dr.ObserveOutcome:
    """A ``drift.outcome``, as the drift worker re-keys a label: ``label_event_id`` is
    ``caused_by``'s event id when given, else ``LABEL_EVENT_ID``."""
    cause = meta.get("caused_by")
    if label_event_id is None:
        label_event_id = LABEL_EVENT_ID if cause is None else cause.meta.event_id
    return route_record(
        dr.ObserveOutcome,
        meta,
        route,
        request_id=request_id,
        label=label,
        label_event_id=label_event_id,
    )


def report_alert(
    alert_id: str = ALERT_ID,
    *,
    route: str = ROUTE,
    model_id: str = MODEL_ID,
    severity: dr.AlertSeverity = dr.AlertSeverity.DRIFT,
    reason: str = "accuracy on route vit fell below 0.9",
    features: Sequence[str] = (),
    source: str = "monitoring",
    **meta: Unpack[Meta],
) -> dr.ReportAlert:
    """A ``drift.report``, as the gateway writes an outside system's alert: drift
    (so a retrain is proposed) in ``vit:1.0.0`` on route ``vit``."""
    return route_record(
        dr.ReportAlert,
        meta,
        route,
        alert_id=alert_id,
        model_id=model_id,
        severity=severity,
        reason=reason,
        features=strings("features", features),
        source=source,
    )


def approve_retrain(
    proposal_id: str = PROPOSAL_ID,
    *,
    route: str = ROUTE,
    approver_id: str = APPROVER,
    key_id: str = APPROVER_KEY_ID,
    request_digest: str | None = None,
    expires_at: datetime | None = None,
    nonce: str = "nonce-1",
    signature: bytes = SIGNATURE,
    **meta: Unpack[Meta],
) -> dr.ApproveRetrain:
    """A ``retrain.approve``, as the gateway writes it for the approver (the default
    actor): ``request_digest`` is ``retrain_proposed(proposal_id)``'s (pass the
    proposal's own when its request differs); it expires an hour after the clock's
    now; the signature is zeros unless given."""
    digest = (
        request_digest
        if request_digest is not None
        else retrain_digest(proposal_id, retrain_request(proposal_id))
    )
    return route_record(
        dr.ApproveRetrain,
        meta,
        route,
        actor=approver_id,
        proposal_id=proposal_id,
        decision=signed_decision(
            digest,
            approver_id=approver_id,
            key_id=key_id,
            expires_at=expires_at
            if expires_at is not None
            else clock_of(meta).now() + timedelta(hours=1),
            nonce=nonce,
            signature=signature,
        ),
    )


def sign_off_quarantine(
    quarantine_id: str = QUARANTINE_ID,
    *,
    route: str = ROUTE,
    model_id: str = MODEL_ID,
    alert_id: str = ALERT_ID,
    approver_id: str = APPROVER,
    key_id: str = APPROVER_KEY_ID,
    request_digest: str | None = None,
    expires_at: datetime | None = None,
    nonce: str = "nonce-1",
    signature: bytes = SIGNATURE,
    **meta: Unpack[Meta],
) -> dr.SignOffQuarantine:
    """A ``quarantine.signoff``, as the gateway writes it for the approver (the
    default actor): ``request_digest`` is ``quarantine_applied()``'s for the same
    ``quarantine_id``, ``model_id`` and ``alert_id`` (which only the digest uses);
    it expires an hour after the clock's now; the signature is zeros unless given."""
    digest = (
        request_digest
        if request_digest is not None
        else quarantine_digest(quarantine_id, model_id, alert_id)
    )
    return route_record(
        dr.SignOffQuarantine,
        meta,
        route,
        actor=approver_id,
        quarantine_id=quarantine_id,
        decision=signed_decision(
            digest,
            approver_id=approver_id,
            key_id=key_id,
            expires_at=expires_at
            if expires_at is not None
            else clock_of(meta).now() + timedelta(hours=1),
            nonce=nonce,
            signature=signature,
        ),
    )
