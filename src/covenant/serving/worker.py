"""The serving worker: the single writer of every deployment record and traffic split.

It consumes the serve commands, keyed by route, so one instance decides each route;
the models, their statuses and signatures are global tables. It never touches a
replica: it writes what should run and where traffic goes (``serve.deployment``,
``serve.traffic``), and the serving agent (:mod:`covenant.serving.agent`) makes the
runtime match and reports back (``serve.observe``, ``canary.observe``,
``serve.load``). Rules in :mod:`covenant.serving.decisions` and
:mod:`covenant.serving.canary`.

Repeats change nothing: a redelivered deploy finds its id known; an observation
that changes nothing writes nothing.
"""

from __future__ import annotations

from typing import Any, TypeVar

from covenant.events.base import Message
from covenant.events.serving import (
    TERMINAL,
    DeploymentRecord,
    DeploymentRecorded,
    DeploymentRefused,
    DeploymentStatus,
    DeployModel,
    ObserveCanary,
    ObserveLoad,
    ObserveReplicas,
    RollbackDeployment,
    ScaleDeployment,
    Strategy,
    TrafficArm,
    TrafficShifted,
)
from covenant.runtime.worker import Context, Worker
from covenant.serving import canary, decisions
from covenant.serving.state import ServingState
from covenant.topics import SERVE_COMMANDS, SERVE_EVENTS

__all__ = ["make_serving_worker"]

M = TypeVar("M", bound=Message)


def make_serving_worker() -> Worker:
    """The ``serving`` worker."""
    state = ServingState()
    flow = _Flow(state)

    async def handle(message: Message, ctx: Context) -> None:
        if isinstance(message, DeployModel):
            flow.on_deploy(message, ctx)
        elif isinstance(message, ObserveReplicas):
            flow.on_replicas(message, ctx)
        elif isinstance(message, ObserveCanary):
            canary.on_observation(flow, message, ctx)
        elif isinstance(message, RollbackDeployment):
            flow.on_rollback(message, ctx)
        elif isinstance(message, ScaleDeployment):
            canary.on_scale(flow, message, ctx)
        elif isinstance(message, ObserveLoad):
            canary.on_load(flow, message, ctx)

    return Worker(
        name="serving",
        inputs=(SERVE_COMMANDS,),
        outputs=(SERVE_EVENTS,),
        accepts=(
            DeployModel,
            ScaleDeployment,
            RollbackDeployment,
            ObserveReplicas,
            ObserveCanary,
            ObserveLoad,
        ),
        handle=handle,
        description="deployments: who may serve where, canary steps, rollback, scaling",
        state=state,
    )


class _Flow:
    """The decisions' adapter to the context; shared with :mod:`covenant.serving.canary`."""

    def __init__(self, state: ServingState) -> None:
        self.state = state

    def emit(self, ctx: Context, cls: type[M], **body: Any) -> M:
        """Emit and fold at once, so the rest of this handler sees its own facts."""
        message = ctx.emit(cls, **body)
        self.state.apply(message)
        return message

    def record(self, ctx: Context, record: DeploymentRecord, **changes: Any) -> DeploymentRecord:
        updated = record.model_copy(update=changes)
        self.emit(ctx, DeploymentRecorded, subject=f"route:{record.route}", record=updated)
        return updated

    def split(
        self, ctx: Context, route: str, arms: list[TrafficArm], reason: str, **extra: Any
    ) -> None:
        self.emit(
            ctx,
            TrafficShifted,
            subject=f"route:{route}",
            route=route,
            arms=arms,
            reason=reason,
            **extra,
        )

    def refuse(
        self, ctx: Context, deploy_id: str, route: str, code: str, reason: str, model_id: str | None
    ) -> None:
        self.emit(
            ctx,
            DeploymentRefused,
            subject=f"route:{route}",
            deploy_id=deploy_id,
            route=route,
            model_id=model_id,
            code=code,
            reason=reason,
        )

    def on_deploy(self, command: DeployModel, ctx: Context) -> None:
        state = self.state
        if state.known(command.deploy_id):
            return
        model = state.promotion.models.get(command.model_id)
        if model is not None:
            model.status = state.promotion.statuses.get(command.model_id, model.status)
        signature = state.promotion.signatures.get(command.model_id)
        busy = next(
            (
                d
                for d in state.on_route(command.route)
                if d.status in (DeploymentStatus.PENDING, DeploymentStatus.CANARY)
            ),
            None,
        )
        problem = decisions.deploy_problem(
            command,
            model,
            signature,
            busy=busy,
            quarantine=state.quarantines.get(command.model_id),
        )
        if problem is not None or model is None:
            code, reason = problem or ("unknown_model", f"{command.model_id} is not registered")
            self.refuse(ctx, command.deploy_id, command.route, code, reason, command.model_id)
            return
        record = decisions.new_record(
            command, model, signature, stable=state.stable(command.route), now=ctx.clock.now()
        )
        self.emit(ctx, DeploymentRecorded, record=record)

    def on_replicas(self, seen: ObserveReplicas, ctx: Context) -> None:
        record = self.state.deployments.get(seen.deploy_id)
        if record is None or record.status in TERMINAL:
            return
        if seen.refused is not None:
            self.fail(ctx, record, seen.refused, seen.reason)
            return
        if seen.role == "baseline":
            if seen.ready != record.baseline_ready:
                record = self.record(ctx, record, baseline_ready=seen.ready)
        elif seen.ready != record.ready_replicas or seen.endpoints != record.endpoints:
            record = self.record(
                ctx, record, ready_replicas=seen.ready, endpoints=list(seen.endpoints)
            )
        if record.status is DeploymentStatus.PENDING and record.ready_replicas > 0:
            self._take_route(ctx, record)

    def _take_route(self, ctx: Context, record: DeploymentRecord) -> None:
        stable = self.state.deployments.get(record.replaces or "")
        if stable is not None and stable.status is not DeploymentStatus.SERVING:
            stable = None
        config = record.canary_config
        canary_plan = config is not None and config.strategy is Strategy.CANARY
        if canary_plan and stable is not None and record.baseline_ready == 0:
            return  # the baseline's replicas are not answering yet
        arms, status, step = decisions.first_split(record, stable)
        extra: dict[str, Any] = {}
        if status is DeploymentStatus.CANARY and config is not None:
            if config.strategy == "shadow":
                extra = {"shadow_deploy_id": record.deploy_id, "shadow_rate": config.shadow_rate}
            if config.strategy == "ab":
                extra = {"sticky_key": config.sticky_key}
        self.split(ctx, record.route, arms, f"{record.deploy_id} is ready", **extra)
        percent = next((a.weight for a in arms if a.deploy_id == record.deploy_id), 0)
        if config is not None and config.strategy == "shadow":
            percent = 0
        self.record(
            ctx,
            record,
            status=status,
            step=step,
            traffic_percent=percent,
            step_started_at=ctx.clock.now(),
            reason=f"ready; {'canary step 1' if status is DeploymentStatus.CANARY else 'serving'}",
        )
        if status is DeploymentStatus.SERVING:
            self.retire_others(ctx, record)

    def retire_others(self, ctx: Context, record: DeploymentRecord) -> None:
        """Every other live deployment of the route ends: superseded, or rolled back
        when ``record`` returned to the route to roll one back."""
        for other in self.state.on_route(record.route):
            if other.deploy_id == record.deploy_id:
                continue
            rolled = other.deploy_id == record.rolls_back
            self.record(
                ctx,
                other,
                status=DeploymentStatus.ROLLED_BACK if rolled else DeploymentStatus.SUPERSEDED,
                traffic_percent=0,
                reason=f"{'rolled back to' if rolled else 'superseded by'} {record.deploy_id}",
            )

    def fail(self, ctx: Context, record: DeploymentRecord, code: str, reason: str) -> None:
        """A deployment whose replicas could not serve: it ends, the route is untouched."""
        self.refuse(ctx, record.deploy_id, record.route, code, reason, record.model_id)
        self.record(ctx, record, status=DeploymentStatus.FAILED, traffic_percent=0, reason=reason)

    def roll_back(self, ctx: Context, record: DeploymentRecord, reason: str) -> None:
        """End a canary: the stable version takes all the traffic first, then the
        canary is marked rolled back (and its replicas and the baseline's go)."""
        stable = self.state.deployments.get(record.replaces or "")
        if stable is not None and stable.status is DeploymentStatus.SERVING:
            self.split(ctx, record.route, decisions.stable_split(stable), reason)
        self.record(
            ctx, record, status=DeploymentStatus.ROLLED_BACK, traffic_percent=0, reason=reason
        )

    def on_rollback(self, command: RollbackDeployment, ctx: Context) -> None:
        record = self.state.deployments.get(command.deploy_id)
        why = command.reason or "rollback requested"
        if record is None or record.status in TERMINAL:
            state = "unknown" if record is None else record.status.value
            self.refuse(
                ctx,
                command.deploy_id,
                command.route,
                "not_rollbackable",
                f"{command.deploy_id} is {state}; only a live deployment can be rolled back",
                None if record is None else record.model_id,
            )
            return
        if record.status in (DeploymentStatus.PENDING, DeploymentStatus.CANARY):
            self.roll_back(ctx, record, f"{why} (by {command.meta.actor})")
            return
        prior = self.state.deployments.get(record.replaces or "")
        if prior is None:
            self.refuse(
                ctx,
                record.deploy_id,
                record.route,
                "no_prior_version",
                f"{record.deploy_id} replaced no earlier deployment on route {record.route}",
                record.model_id,
            )
            return
        # The prior version comes back pending: its replicas start and answer before it
        # takes the route, so the rollback drops no request.
        self.record(
            ctx,
            prior,
            status=DeploymentStatus.PENDING,
            ready_replicas=0,
            endpoints=[],
            canary_config=None,
            replaces=record.deploy_id,
            rolls_back=record.deploy_id,
            reason=f"{why}: returning to the route in place of {record.deploy_id}",
        )
