"""The serving worker's canary steps and scaling, on the pure rules of
:mod:`covenant.serving.analysis` and :mod:`covenant.serving.scaling`.

Each ``canary.observe`` window is judged with everything its step gathered so far:
the sequential test may pass or fail a step early; once the step has
``step_requests`` canary samples (or ran ``max_step_s``), Mann-Whitney U decides.
The analysis, its samples and its verdicts are one ``canary.analysed`` event, so
``covenant serve explain`` can show, and anyone can recompute, every decision.
A/B and shadow deployments are measured the same way but never decided
automatically: their owner ends them (``serve.scale --traffic 100`` or
``serve.rollback``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from covenant.events.serving import (
    CanaryAnalysed,
    CanaryConfig,
    CanaryVerdict,
    DeploymentRecord,
    DeploymentStatus,
    ObserveCanary,
    ObserveLoad,
    ScaleDecided,
    ScaleDeployment,
    Strategy,
)
from covenant.runtime.worker import Context
from covenant.serving import decisions
from covenant.serving.analysis import (
    DEFAULT_METRICS,
    FALSE_ROLLBACK_RATE,
    Direction,
    MetricSpec,
    StepDecision,
    analyse_step,
    step_alpha,
)
from covenant.serving.scaling import ScalePolicy, decide_scale, parse_schedule

if TYPE_CHECKING:
    from covenant.serving.worker import _Flow

__all__ = ["metric_specs", "on_load", "on_observation", "on_scale"]


def metric_specs(config: CanaryConfig) -> tuple[MetricSpec, ...]:
    """The metrics a canary is judged on: the owner's, or latency and errors."""
    if not config.metrics:
        return DEFAULT_METRICS
    return tuple(
        MetricSpec(
            name=m.name,
            direction=Direction(m.direction),
            effect_floor=m.effect_floor,
            min_samples=m.min_samples,
            critical=m.critical,
        )
        for m in config.metrics
    )


def on_observation(flow: _Flow, seen: ObserveCanary, ctx: Context) -> None:
    record = flow.state.deployments.get(seen.deploy_id)
    if record is None or record.status is not DeploymentStatus.CANARY:
        return  # the window closed after the canary ended
    if seen.step != record.step or record.canary_config is None:
        return  # samples of an earlier step, delivered late
    config = record.canary_config
    before = flow.state.step_samples(record.deploy_id, record.step)
    baseline_arm, canary_arm = _arms(config)
    merged: dict[str, dict[str, list[float]]] = {k: dict(v) for k, v in before.items()}
    for arm in seen.arms:
        metrics = merged.setdefault(arm.arm, {})
        for name, values in (
            ("latency_ms", arm.latency_ms),
            ("error", arm.error),
            ("accuracy", arm.accuracy),
        ):
            metrics[name] = [*metrics.get(name, []), *values]
    seen_base = merged.get(baseline_arm, {})
    seen_can = merged.get(canary_arm, {})
    n_canary = len(seen_can.get("latency_ms", []))
    elapsed = (ctx.clock.now() - (record.step_started_at or ctx.clock.now())).total_seconds()
    final = n_canary >= config.step_requests or elapsed >= config.max_step_s
    # Every metric the owner named is judged, measured or not: a canary whose labelled
    # traffic never came cannot pass on accuracy (it runs out of time and fails). An arm
    # may be missing from the step so far (the split moved while the window was open,
    # so it holds only the stable's samples): no samples, which is insufficient, not an
    # error that would dead-letter the observation.
    specs = list(metric_specs(config))
    base = {s.name: seen_base.get(s.name, []) for s in specs}
    can = {s.name: seen_can.get(s.name, []) for s in specs}
    analysed_steps = len([s for s in config.steps if s < 100]) or 1
    alpha = step_alpha(analysed_steps) * config.alpha / FALSE_ROLLBACK_RATE
    result = analyse_step(specs, base, can, alpha=alpha, final=final)
    decision = result.decision
    reason = result.reason
    if decision is StepDecision.CONTINUE and elapsed >= config.max_step_s:
        # A step that cannot be judged in its time is not promoted (fail safe).
        decision = StepDecision.FAIL
        reason = f"the step ran {elapsed:.0f} s without enough samples to judge: {reason}"
    if config.strategy is not Strategy.CANARY:
        decision = StepDecision.CONTINUE  # measured, decided by the owner
    flow.emit(
        ctx,
        CanaryAnalysed,
        deploy_id=record.deploy_id,
        route=record.route,
        step=record.step,
        traffic_percent=record.traffic_percent,
        decision=decision.value,
        score=result.score,
        n_baseline=len(seen_base.get("latency_ms", [])),
        n_canary=n_canary,
        verdicts=[
            CanaryVerdict(
                metric=v.metric,
                method=v.method,
                outcome=v.outcome.value,
                n_baseline=v.n_baseline,
                n_canary=v.n_canary,
                statistic=v.statistic,
                p_value=v.p_value,
                effect=v.effect,
                baseline_summary=v.baseline_summary,
                canary_summary=v.canary_summary,
                reason=v.reason,
            )
            for v in result.verdicts
        ],
        arms=list(seen.arms),
        reason=reason,
        observation_id=seen.meta.event_id,
    )
    if decision is StepDecision.FAIL:
        flow.roll_back(ctx, record, f"canary failed step {record.step + 1}: {reason}")
    elif decision is StepDecision.PASS:
        _next_step(flow, ctx, record, f"step {record.step + 1} passed: {reason}")


def _arms(config: CanaryConfig) -> tuple[str, str]:
    """The arm names compared: baseline and canary, or A and B."""
    if config.strategy is Strategy.AB:
        return "a", "b"
    if config.strategy is Strategy.SHADOW:
        return "stable", "shadow"
    return "baseline", "canary"


def _next_step(flow: _Flow, ctx: Context, record: DeploymentRecord, why: str) -> None:
    config = record.canary_config
    stable = flow.state.deployments.get(record.replaces or "")
    assert config is not None
    following = record.step + 1
    if stable is None or following >= len(config.steps) or config.steps[following] >= 100:
        _promote(flow, ctx, record, why)
        return
    percent = config.steps[following]
    flow.split(ctx, record.route, decisions.step_split(stable, record, percent), why)
    flow.record(
        ctx,
        record,
        step=following,
        traffic_percent=percent,
        step_started_at=ctx.clock.now(),
        reason=why,
    )


def _promote(flow: _Flow, ctx: Context, record: DeploymentRecord, why: str) -> None:
    flow.split(ctx, record.route, decisions.promoted_split(record), why)
    promoted = flow.record(
        ctx,
        record,
        status=DeploymentStatus.SERVING,
        traffic_percent=100,
        reason=f"{why}; promoted to 100 %",
    )
    flow.retire_others(ctx, promoted)


def on_scale(flow: _Flow, command: ScaleDeployment, ctx: Context) -> None:
    record = flow.state.deployments.get(command.deploy_id)
    if record is None or record.status not in (
        DeploymentStatus.PENDING,
        DeploymentStatus.CANARY,
        DeploymentStatus.SERVING,
    ):
        flow.refuse(
            ctx,
            command.deploy_id,
            command.route,
            "not_scalable",
            f"{command.deploy_id} is {'unknown' if record is None else record.status.value}; "
            "only a live deployment can be scaled",
            None if record is None else record.model_id,
        )
        return
    why = command.reason or f"asked by {command.meta.actor}"
    if command.traffic_percent is not None and record.status is DeploymentStatus.CANARY:
        if command.traffic_percent == 0:
            flow.roll_back(ctx, record, f"traffic set to 0 % ({why})")
            return
        if command.traffic_percent == 100:
            _promote(flow, ctx, record, f"traffic set to 100 % ({why})")
            return
    res = record.resources
    new = res.model_copy(
        update={
            k: v
            for k, v in {
                "replicas": command.replicas,
                "min_replicas": command.min_replicas,
                "max_replicas": command.max_replicas,
            }.items()
            if v is not None
        }
    )
    if new.min_replicas > new.max_replicas:
        flow.refuse(
            ctx,
            record.deploy_id,
            record.route,
            "invalid_scale",
            f"min_replicas {new.min_replicas} is above max_replicas {new.max_replicas}",
            record.model_id,
        )
        return
    if new == res:
        return
    _scaled(flow, ctx, record, new.replicas, "manual", why, None, resources=new)


def _scaled(
    flow: _Flow,
    ctx: Context,
    record: DeploymentRecord,
    to: int,
    trigger: str,
    why: str,
    rps: float | None,
    **changes: object,
) -> None:
    resources = changes.pop("resources", None) or record.resources.model_copy(
        update={"replicas": to}
    )
    flow.emit(
        ctx,
        ScaleDecided,
        deploy_id=record.deploy_id,
        route=record.route,
        from_replicas=record.resources.replicas,
        to_replicas=to,
        trigger=trigger,
        requests_per_s=rps,
        reason=why,
    )
    flow.record(ctx, record, resources=resources, reason=f"scaled to {to}: {why}")


def on_load(flow: _Flow, seen: ObserveLoad, ctx: Context) -> None:
    record = flow.state.deployments.get(seen.deploy_id)
    if record is None or record.status is not DeploymentStatus.SERVING:
        return
    res = record.resources
    policy = ScalePolicy(
        min_replicas=res.min_replicas,
        max_replicas=res.max_replicas,
        target_rps_per_replica=res.target_rps_per_replica,
        schedules=tuple(parse_schedule(s) for s in res.schedules),
    )
    history = flow.state.scales.get(record.deploy_id, [])
    ups = [s.meta.occurred_at for s in history if s.to_replicas > s.from_replicas]
    recent = [(s.meta.occurred_at, s.to_replicas) for s in history if s.trigger != "manual"]
    decision = decide_scale(
        policy,
        current=res.replicas,
        observed_rps=seen.requests_per_s,
        now=ctx.clock.now(),
        last_scale_up=ups[-1] if ups else None,
        recent_recommendations=recent,
    )
    if decision.changed and decision.replicas != res.replicas:
        trigger = "schedule" if "schedule" in decision.reason else "autoscale"
        _scaled(flow, ctx, record, decision.replicas, trigger, decision.reason, seen.requests_per_s)
