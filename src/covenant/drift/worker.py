"""The drift worker: serving samples into windows, windows into verdicts, verdicts into
alerts and remediation.

Inputs, all keyed by route: the samples topic (``drift.sample`` from the model
servers, ``drift.outcome`` from this worker), the labels topic (``drift.label``, each
re-keyed here into a ``drift.outcome`` on the samples topic so that it is ordered with
the samples it judges), and the drift commands (outside alerts, signed retrain
approvals, signed quarantine sign-offs). Windows and verdicts in
:mod:`covenant.drift.windowing`, remediation in :mod:`covenant.drift.remedies`, the
rules both apply in :mod:`covenant.drift.decisions`.
"""

from __future__ import annotations

from covenant.blobs import BlobStore
from covenant.drift.remedies import Remedies
from covenant.drift.state import DriftState
from covenant.drift.windowing import DriftSettings, Windows
from covenant.events.base import Message
from covenant.events.drift import (
    ApproveRetrain,
    ObserveLabel,
    ObserveOutcome,
    ObserveSample,
    ReportAlert,
    SignOffQuarantine,
)
from covenant.promotion.approvals import ApproverGroup
from covenant.runtime.worker import Context, Worker
from covenant.topics import (
    DRIFT_COMMANDS,
    DRIFT_EVENTS,
    DRIFT_LABELS,
    DRIFT_SAMPLES,
    SERVE_COMMANDS,
    TRAIN_COMMANDS,
)
from covenant.training.pools import Pools

__all__ = ["DriftSettings", "make_drift_worker"]

WORKER = "drift"


def make_drift_worker(
    *,
    blobs: BlobStore,
    pools: Pools,
    approvers: ApproverGroup,
    settings: DriftSettings | None = None,
) -> Worker:
    """The ``drift`` worker."""
    state = DriftState()
    remedies = Remedies(state, pools, approvers)
    flow = Windows(state, blobs, remedies, settings or DriftSettings())

    async def handle(message: Message, ctx: Context) -> None:
        if isinstance(message, ObserveSample):
            await flow.on_sample(message, ctx)
        elif isinstance(message, ObserveOutcome):
            await flow.on_outcome(message, ctx)
        elif isinstance(message, ObserveLabel):
            ctx.emit(
                ObserveOutcome,
                route=message.route,
                request_id=message.request_id,
                label=message.label,
                label_event_id=message.meta.event_id,
            )
        elif isinstance(message, ReportAlert):
            remedies.on_report(message, ctx)
        elif isinstance(message, ApproveRetrain):
            remedies.on_approve(message, ctx)
        elif isinstance(message, SignOffQuarantine):
            remedies.on_signoff(message, ctx)

    return Worker(
        name=WORKER,
        inputs=(DRIFT_SAMPLES, DRIFT_LABELS, DRIFT_COMMANDS),
        outputs=(DRIFT_SAMPLES, DRIFT_EVENTS, SERVE_COMMANDS, TRAIN_COMMANDS),
        accepts=(
            ObserveSample,
            ObserveOutcome,
            ObserveLabel,
            ReportAlert,
            ApproveRetrain,
            SignOffQuarantine,
        ),
        handle=handle,
        description="drift: serving windows scored against references, alerts, remediation",
        state=state,
        replay=flow,
    )
