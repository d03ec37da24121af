"""The promotion worker: the single writer of every model version's status.

It consumes the promotion commands and the pre-promotion policy decisions, all keyed
by the model id on co-partitioned topics, so one instance decides each model. The
flow of one ``promotion.request``:

* its own checks (:mod:`covenant.promotion.decisions`): ladder, evaluation,
  signature. Any failure: ``promotion.blocked`` with every reason, at once.
* ``promotion.pending`` (waiting for policy) and a pre-promotion
  ``policy.requested`` → SentinelNet's ``policy.decided`` (built-in or external):
  denied → blocked; a ``require_multisig`` match → pending for k-of-n approvals;
  otherwise promoted. No answer before the clock's ``promotion.expire`` → blocked,
  naming the timeout.
* each ``promotion.approve`` is verified (:mod:`covenant.promotion.approvals`) and
  accepted once per approver or refused with why; the k-th distinct one promotes.
* ``model.promoted`` only after the own checks pass again on the facts of that
  moment, so a model that moved meanwhile is blocked, never promoted twice.

Repeats (a redelivered request, a second decision for one promotion) change nothing:
the state tells a repeat from news.
"""

from __future__ import annotations

from covenant.events.base import Message
from covenant.events.policy import PolicyDecided, PolicyStage, RequestPolicy
from covenant.events.promotion import (
    ApprovalAccepted,
    ApprovalRefused,
    ApprovePromotion,
    DemoteModel,
    DeprecateModel,
    Environment,
    ExpirePromotion,
    LifecycleRefused,
    ModelDemoted,
    ModelDeprecated,
    ModelPromoted,
    PromotionBlocked,
    PromotionCheck,
    PromotionPending,
    PromotionReason,
    RequestPromotion,
)
from covenant.policy.rules import Effect
from covenant.promotion import decisions
from covenant.promotion.approvals import ApproverGroup, approval_problem, request_digest
from covenant.promotion.approvers import NO_APPROVERS
from covenant.promotion.decisions import STATUS_OF, ManifestCheck
from covenant.promotion.manifest import manifest_problem
from covenant.promotion.state import Pending, PromotionState
from covenant.runtime.worker import Context, Worker
from covenant.topics import POLICY_COMMANDS, POLICY_EVENTS, PROMOTION_COMMANDS, PROMOTION_EVENTS

__all__ = ["make_promotion_worker"]


def make_promotion_worker(
    *,
    approvers: ApproverGroup = NO_APPROVERS,
    check_manifest: ManifestCheck = manifest_problem,
) -> Worker:
    """The ``promotion`` worker, with the approvers group high-risk promotions need."""
    state = PromotionState()
    flow = _Flow(state, approvers, check_manifest)

    async def handle(message: Message, ctx: Context) -> None:
        if isinstance(message, RequestPromotion):
            flow.on_request(message, ctx)
        elif isinstance(message, PolicyDecided):
            flow.on_policy(message, ctx)
        elif isinstance(message, ApprovePromotion):
            flow.on_approval(message, ctx)
        elif isinstance(message, ExpirePromotion):
            flow.on_expired(message, ctx)
        elif isinstance(message, DemoteModel | DeprecateModel):
            flow.on_lifecycle(message, ctx)

    return Worker(
        name="promotion",
        inputs=(PROMOTION_COMMANDS, POLICY_EVENTS),
        outputs=(PROMOTION_EVENTS, POLICY_COMMANDS),
        accepts=(
            RequestPromotion,
            ApprovePromotion,
            ExpirePromotion,
            DemoteModel,
            DeprecateModel,
            PolicyDecided,
        ),
        handle=handle,
        description="promotions: ladder, evaluation, signature, SentinelNet, multisig",
        state=state,
    )


class _Flow:
    def __init__(
        self, state: PromotionState, approvers: ApproverGroup, check_manifest: ManifestCheck
    ) -> None:
        self.state = state
        self.approvers = approvers
        self.check_manifest = check_manifest

    def _reasons(self, model_id: str, target: Environment) -> list[PromotionReason]:
        state = self.state
        return decisions.blocking_reasons(
            state.models.get(model_id),
            model_id=model_id,
            target=target,
            evaluation=state.evaluations.get(model_id),
            signature=state.signatures.get(model_id),
            check_manifest=self.check_manifest,
        )

    def on_request(self, request: RequestPromotion, ctx: Context) -> None:
        if self.state.known(request.promotion_id):
            return  # a redelivered or retried request: already decided or pending
        reasons = self._reasons(request.model_id, request.target)
        if reasons:
            self._block(ctx, request.promotion_id, request.model_id, request.target, reasons)
            return
        state = self.state
        view = state.models[request.model_id]
        signature = state.signatures[request.model_id]
        ctx.emit(
            PromotionPending,
            promotion_id=request.promotion_id,
            model_id=request.model_id,
            target=request.target,
            region=request.region,
            waiting_for="policy",
            request_digest=request_digest(
                promotion_id=request.promotion_id,
                model_id=request.model_id,
                target=request.target,
                payload_sha256=signature.payload_sha256,
            ),
        )
        ctx.emit(
            RequestPolicy,
            stage=PolicyStage.PRE_PROMOTION,
            subject_id=request.promotion_id,
            input_json=decisions.policy_input(
                promotion_id=request.promotion_id,
                view=view,
                target=request.target,
                region=request.region,
                evaluation=state.evaluations.get(request.model_id),
                signature=signature,
                datasets=state.datasets,
            ),
        )

    def on_policy(self, decided: PolicyDecided, ctx: Context) -> None:
        if decided.stage is not PolicyStage.PRE_PROMOTION:
            return
        pending = self.state.pending.get(decided.subject_id)
        if pending is None or pending.waiting_for != "policy":
            return  # a repeated decision, or one that came after the deadline
        if not decided.allowed:
            who = f"SentinelNet ({decided.decided_by}, policy {decided.policy_version})"
            reasons = [
                PromotionReason(check=PromotionCheck.POLICY_DENIED, message=f"{who}: {r.message}")
                for r in decided.refusals
            ] or [PromotionReason(check=PromotionCheck.POLICY_DENIED, message=f"{who} refused")]
            self._block(ctx, pending.promotion_id, pending.model_id, pending.target, reasons)
            return
        pending.policy_decision_id = decided.meta.event_id
        pending.policy_version = decided.policy_version
        multisig = [m for m in decided.matched if m.effect == Effect.REQUIRE_MULTISIG.value]
        if not multisig:
            self._finish(ctx, pending)
            return
        if self.approvers.required == 0:
            reason = PromotionReason(
                check=PromotionCheck.APPROVERS_UNCONFIGURED,
                message=f"{multisig[0].reason}, but no approvers group is configured "
                "(COVENANT_APPROVERS); the promotion cannot be approved",
            )
            self._block(ctx, pending.promotion_id, pending.model_id, pending.target, [reason])
            return
        self._pending_approvals(ctx, pending, pending.approved_by)

    def _pending_approvals(self, ctx: Context, pending: Pending, approved: list[str]) -> None:
        ctx.emit(
            PromotionPending,
            correlation_id=pending.correlation_id,
            promotion_id=pending.promotion_id,
            model_id=pending.model_id,
            target=pending.target,
            region=pending.region,
            waiting_for="approvals",
            request_digest=pending.request_digest,
            required_approvals=self.approvers.required,
            approvers=self.approvers.ids,
            approved_by=approved,
            policy_decision_id=pending.policy_decision_id,
            policy_version=pending.policy_version,
        )

    def on_approval(self, approval: ApprovePromotion, ctx: Context) -> None:
        pending = self.state.pending.get(approval.promotion_id)
        if pending is None or pending.waiting_for != "approvals":
            problem: str | None = f"promotion {approval.promotion_id} is not waiting for approvals"
        elif pending.model_id != approval.model_id:
            problem = f"promotion {approval.promotion_id} is not of {approval.model_id}"
        else:
            problem = approval_problem(
                approval,
                group=self.approvers,
                expected_digest=pending.request_digest,
                now=ctx.clock.now(),
                used_nonces=self.state.nonces,
                approved_by=pending.approved_by,
            )
        if problem is not None or pending is None:
            ctx.emit(
                ApprovalRefused,
                promotion_id=approval.promotion_id,
                model_id=approval.model_id,
                approver_id=approval.approver_id,
                nonce=approval.nonce,
                reason=problem or "not pending",
            )
            return
        ctx.emit(
            ApprovalAccepted,
            correlation_id=pending.correlation_id,
            promotion_id=approval.promotion_id,
            model_id=approval.model_id,
            approver_id=approval.approver_id,
            key_id=approval.key_id,
            nonce=approval.nonce,
        )
        approved = [*pending.approved_by, approval.approver_id]
        if len(approved) >= pending.required_approvals:
            pending.approved_by = approved
            self._finish(ctx, pending)
        else:
            self._pending_approvals(ctx, pending, approved)

    def on_expired(self, expired: ExpirePromotion, ctx: Context) -> None:
        pending = self.state.pending.get(expired.promotion_id)
        if pending is None or pending.waiting_for != expired.waiting_for:
            return  # answered in time, or already expired
        reason = PromotionReason(
            check=PromotionCheck.POLICY_TIMEOUT,
            message=f"SentinelNet did not answer within {expired.timeout_s:g} s "
            f"(COVENANT_POLICY_TIMEOUT_S); the promotion fails closed, request it again",
        )
        self._block(ctx, pending.promotion_id, pending.model_id, pending.target, [reason])

    def _finish(self, ctx: Context, pending: Pending) -> None:
        reasons = self._reasons(pending.model_id, pending.target)
        if reasons:  # the model moved, or its signature changed, while we waited
            self._block(ctx, pending.promotion_id, pending.model_id, pending.target, reasons)
            return
        view = self.state.models[pending.model_id]
        signature = self.state.signatures[pending.model_id]
        evaluation = self.state.evaluations[pending.model_id]
        digest = request_digest(
            promotion_id=pending.promotion_id,
            model_id=pending.model_id,
            target=pending.target,
            payload_sha256=signature.payload_sha256,
        )
        if digest != pending.request_digest:  # approvers approved another manifest
            reason = PromotionReason(
                check=PromotionCheck.SIGNATURE_INVALID,
                message=f"{pending.model_id} was signed again (manifest "
                f"{signature.manifest_id}) after this promotion was requested; what was "
                "cleared and approved is not what is signed now: request it again",
            )
            self._block(ctx, pending.promotion_id, pending.model_id, pending.target, [reason])
            return
        ctx.emit(
            ModelPromoted,
            correlation_id=pending.correlation_id,
            promotion_id=pending.promotion_id,
            model_id=pending.model_id,
            from_status=view.status,
            to_status=STATUS_OF[pending.target],
            signer_id=signature.signer_id,
            signature=signature.signature,
            manifest_id=signature.manifest_id,
            payload_sha256=signature.payload_sha256,
            evaluation_id=evaluation.eval_id,
            policy_decision_id=pending.policy_decision_id or "",
            policy_version=pending.policy_version or "",
            approved_by=list(pending.approved_by),
        )

    def _block(
        self,
        ctx: Context,
        promotion_id: str,
        model_id: str,
        target: Environment,
        reasons: list[PromotionReason],
    ) -> None:
        pending = self.state.pending.get(promotion_id)
        ctx.emit(
            PromotionBlocked,
            correlation_id=pending.correlation_id if pending else None,
            promotion_id=promotion_id,
            model_id=model_id,
            target=target,
            reasons=reasons,
        )

    def on_lifecycle(self, command: DemoteModel | DeprecateModel, ctx: Context) -> None:
        view = self.state.models.get(command.model_id)
        if isinstance(command, DeprecateModel):
            action = "deprecate"
            problem = decisions.deprecation_problem(view, command.model_id)
        else:
            action = "demote"
            problem = decisions.demotion_problem(view, command.target, command.model_id)
        if problem is not None or view is None:
            ctx.emit(
                LifecycleRefused,
                model_id=command.model_id,
                action=action,
                reason=problem or f"no model {command.model_id!r} is registered",
            )
        elif isinstance(command, DeprecateModel):
            ctx.emit(
                ModelDeprecated,
                model_id=command.model_id,
                from_status=view.status,
                reason=command.reason,
            )
        else:
            ctx.emit(
                ModelDemoted,
                model_id=command.model_id,
                from_status=view.status,
                to_status=STATUS_OF[command.target],
                reason=command.reason,
            )
