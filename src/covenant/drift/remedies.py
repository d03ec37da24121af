"""What drift alerts lead to: retrain proposals, quarantines, and signed decisions.

The drift worker's second half (the first, windows and verdicts, is
:mod:`covenant.drift.windowing`). An alert, ours or an outside system's, is taken
once per model and kind: a safety alert quarantines the model (its deployment is
rolled back to the last good version, and the serving worker refuses to deploy it
again until enough sign-offs release it: as many as its promotion's multisig
needed, at least one), a drift alert proposes a retrain that is submitted only when
an approver's signed approval arrives. Every alert gets a ``drift.finding`` tying it
to its windows, statistics, reference and remediation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from covenant.drift import decisions
from covenant.drift.signoff import decision_problem, quarantine_digest, retrain_digest
from covenant.drift.state import DriftState
from covenant.events.base import Message
from covenant.events.drift import (
    AlertSeverity,
    ApproveRetrain,
    DriftAlerted,
    DriftDecisionRefused,
    DriftFinding,
    DriftScored,
    QuarantineApplied,
    QuarantineReleased,
    QuarantineSignedOff,
    Remediation,
    ReportAlert,
    RetrainApproved,
    RetrainProposed,
    SignOffQuarantine,
)
from covenant.events.serving import TERMINAL, RollbackDeployment
from covenant.events.training import SubmitTraining
from covenant.promotion.approvals import ApproverGroup
from covenant.runtime.worker import Context
from covenant.training.pools import Pools

__all__ = ["Remedies"]

M = TypeVar("M", bound=Message)


class Remedies:
    """Alerts and their remediation, over the worker's state."""

    def __init__(self, state: DriftState, pools: Pools, approvers: ApproverGroup) -> None:
        self.state = state
        self.pools = pools
        self.approvers = approvers

    def emit(self, ctx: Context, cls: type[M], **body: Any) -> M:
        """Emit and fold at once, so the rest of this handler sees its own facts."""
        message = ctx.emit(cls, **body)
        self.state.apply(message)
        return message

    def alert(
        self,
        ctx: Context,
        *,
        alert_id: str,
        route: str,
        deploy_id: str | None,
        model_id: str,
        severity: AlertSeverity,
        source: str,
        reason: str,
        features: list[str],
        scored: Sequence[Message],
        causes: list[str],
    ) -> None:
        """Raise an alert and take its remediation, once per model and kind."""
        state = self.state
        if alert_id in state.alerts:
            return
        if severity is AlertSeverity.SAFETY and state.quarantined(model_id) is not None:
            return
        if severity is AlertSeverity.DRIFT and state.proposal_for(model_id) is not None:
            return
        windows = [m.window for m in scored if isinstance(m, DriftScored)]
        remediation = decisions.remediation_for(severity)
        prepared: decisions.Retrain | str | None = None
        if remediation is Remediation.RETRAIN:
            prepared = self._retrain(alert_id, reason, windows, model_id)
            if isinstance(prepared, str):
                remediation = Remediation.NONE
                reason = f"{reason}; no retrain proposed: {prepared}"
        self.emit(
            ctx,
            DriftAlerted,
            subject=f"route:{route}",
            alert_id=alert_id,
            route=route,
            deploy_id=deploy_id,
            model_id=model_id,
            severity=severity,
            source=source,
            reason=reason[:2000],
            features=features,
            windows=windows,
            remediation=remediation,
        )
        action: Message | None = None
        if isinstance(prepared, decisions.Retrain):
            proposal_id = f"retrain-{alert_id.removeprefix('alert-')}"
            action = self.emit(
                ctx,
                RetrainProposed,
                subject=f"route:{route}",
                proposal_id=proposal_id,
                alert_id=alert_id,
                route=route,
                model_id=model_id,
                request=prepared.request,
                lineage=prepared.lineage,
                cost=prepared.cost,
                quota=prepared.quota,
                request_digest=retrain_digest(proposal_id, prepared.request),
            )
        elif remediation is Remediation.QUARANTINE:
            action = self._quarantine(ctx, alert_id, route, deploy_id, model_id, reason)
        profile_ids = {m.reference_profile_id for m in scored if isinstance(m, DriftScored)}
        self.emit(
            ctx,
            DriftFinding,
            subject=f"route:{route}",
            finding_id=f"finding-{alert_id.removeprefix('alert-')}",
            alert_id=alert_id,
            route=route,
            model_id=model_id,
            reference_profile_id=next(iter(profile_ids), state.profiles.get(model_id)),
            scored_event_ids=[m.meta.event_id for m in scored],
            windows=windows,
            features=features,
            statistics=causes,
            remediation=remediation,
            remediation_event_id=None if action is None else action.meta.event_id,
        )

    def _retrain(
        self, alert_id: str, reason: str, windows: list[int], model_id: str
    ) -> decisions.Retrain | str:
        state = self.state
        entry = state.models.get(model_id)
        if entry is None:
            return f"{model_id} is not in the registry"
        job_id = entry.provenance.get("trainingJob")
        job = state.jobs.get(job_id) if job_id else None
        charge = state.charges.get(job_id) if job_id else None
        family = [m.version for m in state.models.values() if m.family == entry.family]
        return decisions.prepare_retrain(
            proposal_id=f"retrain-{alert_id.removeprefix('alert-')}",
            alert_id=alert_id,
            reason=reason,
            windows=windows,
            entry=entry,
            job=job,
            family_versions=family,
            datasets=state.datasets,
            pools=self.pools,
            unit_hours=None if charge is None else charge.unit_hours,
        )

    def _quarantine(
        self,
        ctx: Context,
        alert_id: str,
        route: str,
        deploy_id: str | None,
        model_id: str,
        reason: str,
    ) -> Message:
        record = self.state.deployments.get(deploy_id or "")
        if record is not None and record.status not in TERMINAL:
            ctx.emit(
                RollbackDeployment,
                subject=f"route:{route}",
                deploy_id=record.deploy_id,
                route=route,
                reason=f"quarantined by drift alert {alert_id}",
            )
        quarantine_id = f"quarantine-{alert_id.removeprefix('alert-')}"
        return self.emit(
            ctx,
            QuarantineApplied,
            subject=f"route:{route}",
            quarantine_id=quarantine_id,
            alert_id=alert_id,
            route=route,
            model_id=model_id,
            deploy_id=deploy_id,
            required_signoffs=max(1, self.state.approvals_needed.get(model_id, 0)),
            request_digest=quarantine_digest(quarantine_id, model_id, alert_id),
        )

    def on_report(self, report: ReportAlert, ctx: Context) -> None:
        live = [
            d
            for d in self.state.deployments.values()
            if d.route == report.route
            and d.model_id == report.model_id
            and d.status not in TERMINAL
        ]
        if report.model_id not in self.state.models and not live:
            self.refuse(
                ctx,
                report.alert_id,
                report.route,
                "unknown_model",
                f"{report.model_id} is neither registered nor serving on {report.route}",
            )
            return
        self.alert(
            ctx,
            alert_id=report.alert_id,
            route=report.route,
            deploy_id=live[0].deploy_id if live else None,
            model_id=report.model_id,
            severity=report.severity,
            source=report.source,
            reason=report.reason,
            features=list(report.features),
            scored=list(self.state.recent.get(live[0].deploy_id, ()))[-1:] if live else [],
            causes=[report.reason],
        )

    def refuse(self, ctx: Context, subject_id: str, route: str, code: str, reason: str) -> None:
        self.emit(
            ctx,
            DriftDecisionRefused,
            subject=f"route:{route}",
            subject_id=subject_id,
            route=route,
            code=code,
            reason=reason,
        )

    def on_approve(self, command: ApproveRetrain, ctx: Context) -> None:
        proposal = self.state.proposals.get(command.proposal_id)
        if proposal is None:
            self.refuse(
                ctx,
                command.proposal_id,
                command.route,
                "unknown_proposal",
                f"no retrain proposal {command.proposal_id!r}",
            )
            return
        if command.proposal_id in self.state.approved:
            self.refuse(
                ctx,
                command.proposal_id,
                command.route,
                "already_approved",
                f"{command.proposal_id} was approved already; its job is "
                f"{self.state.approved[command.proposal_id].job_id}",
            )
            return
        problem = decision_problem(
            command.decision,
            subject_id=command.proposal_id,
            group=self.approvers,
            expected_digest=proposal.request_digest,
            now=ctx.clock.now(),
            used_nonces=self.state.nonces,
            decided_by=(),
        )
        if problem is not None:
            self.refuse(ctx, command.proposal_id, command.route, "approval_refused", problem)
            return
        request = proposal.request
        ctx.emit(
            SubmitTraining,
            subject=request.job_id,
            **request.model_dump(),
        )
        self.emit(
            ctx,
            RetrainApproved,
            subject=f"route:{proposal.route}",
            proposal_id=proposal.proposal_id,
            route=proposal.route,
            approver_id=command.decision.approver_id,
            job_id=request.job_id,
            nonce=command.decision.nonce,
        )

    def on_signoff(self, command: SignOffQuarantine, ctx: Context) -> None:
        quarantine = self.state.quarantines.get(command.quarantine_id)
        if quarantine is None or quarantine.released:
            state = "unknown" if quarantine is None else "released already"
            self.refuse(
                ctx,
                command.quarantine_id,
                command.route,
                "not_quarantined",
                f"quarantine {command.quarantine_id!r} is {state}",
            )
            return
        problem = decision_problem(
            command.decision,
            subject_id=command.quarantine_id,
            group=self.approvers,
            expected_digest=quarantine.applied.request_digest,
            now=ctx.clock.now(),
            used_nonces=self.state.nonces,
            decided_by=quarantine.signed_by,
        )
        if problem is not None:
            self.refuse(ctx, command.quarantine_id, command.route, "signoff_refused", problem)
            return
        applied = quarantine.applied
        self.emit(
            ctx,
            QuarantineSignedOff,
            subject=f"route:{applied.route}",
            quarantine_id=applied.quarantine_id,
            route=applied.route,
            approver_id=command.decision.approver_id,
            signoffs=len(quarantine.signed_by) + 1,
            required_signoffs=applied.required_signoffs,
            nonce=command.decision.nonce,
        )
        if len(quarantine.signed_by) >= applied.required_signoffs:
            self.emit(
                ctx,
                QuarantineReleased,
                subject=f"route:{applied.route}",
                quarantine_id=applied.quarantine_id,
                route=applied.route,
                model_id=applied.model_id,
                approvers=list(quarantine.signed_by),
            )
