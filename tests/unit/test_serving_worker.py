"""The serving worker's decisions, record by record, without a log: who may serve
where, a route changing hands, a canary stepping to 100 % or rolled back (stable first),
a refused model, a manual rollback to the prior version, scaling by hand and by load."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest

from covenant.events.base import Message
from covenant.events.promotion import Environment
from covenant.events.registry import ModelStatus
from covenant.events.serving import (
    CanaryAnalysed,
    CanaryConfig,
    DeploymentRecorded,
    DeploymentRefused,
    DeploymentResources,
    DeploymentStatus,
    ScaleDecided,
    TrafficShifted,
)
from covenant.runtime.worker import Context, Worker
from covenant.serving.desired import desired_routes, desired_versions
from covenant.serving.state import ServingState
from covenant.serving.worker import make_serving_worker
from covenant.testing import ManualClock
from covenant.testing import builders as b

V1, V2 = "digits:1.0.0", "digits:1.1.0"
T0 = datetime(2026, 1, 5, 12, tzinfo=UTC)


def state_of(w: Worker) -> ServingState:
    assert isinstance(w.state, ServingState)
    return w.state


class Harness:
    def __init__(self, *statuses: tuple[str, ModelStatus]) -> None:
        self.worker = make_serving_worker()
        self.clock = ManualClock(T0)
        self.state = state_of(self.worker)
        for model_id, status in statuses:
            self.model(model_id, status)

    def model(self, model_id: str, status: ModelStatus, *, signed: bool = True) -> None:
        self.state.apply(b.model_registered(model_id, artifact_id=b.sha(f"weights {model_id}")))
        if signed:
            self.state.apply(b.manifest_signed(model_id))
        if status is ModelStatus.STAGING:
            self.state.apply(b.model_promoted(model_id, target=Environment.STAGING))
        if status is ModelStatus.PROD:
            self.state.apply(b.model_promoted(model_id, target=Environment.STAGING))
            self.state.apply(b.model_promoted(model_id, target=Environment.PROD))

    async def send(self, message: Message) -> list[Any]:
        ctx = Context(worker=self.worker.name, cause=message, clock=self.clock)
        await self.worker.handle(message, ctx)
        for emitted in ctx.emitted:
            self.state.apply(emitted)
        return ctx.emitted

    def status(self, deploy_id: str) -> DeploymentStatus:
        return self.state.deployments[deploy_id].status

    def split(self, route: str = "digits") -> dict[str, int]:
        return {a.name: a.weight for a in self.state.splits[route].arms}

    async def serve(self, deploy_id: str, model_id: str, **body: Any) -> list[Any]:
        await self.send(b.deploy_model(model_id, deploy_id=deploy_id, route="digits", **body))
        return await self.send(b.observe_replicas(deploy_id, route="digits"))


def window(
    step: int, *, canary_ms: float, errors: float = 0.0, n: int = 100, seed: int = 0
) -> Message:
    rng = random.Random(seed)
    base = [rng.lognormvariate(2.3, 0.2) for _ in range(n)]
    can = [rng.lognormvariate(2.3, 0.2) * canary_ms / 10.0 for _ in range(n)]
    errs = [1.0 if rng.random() < errors else 0.0 for _ in range(n)]
    return b.observe_canary(
        "d2",
        route="digits",
        step=step,
        arms=[
            b.arm_samples("baseline", deploy_id="d2", latency_ms=base),
            b.arm_samples("canary", deploy_id="d2", latency_ms=can, error=errs),
        ],
    )


@pytest.mark.parametrize(
    ("env", "status", "signed", "code"),
    [
        ("prod", ModelStatus.STAGING, True, "not_promoted"),
        ("staging", ModelStatus.DRAFT, True, "not_promoted"),
        ("prod", ModelStatus.PROD, False, "unsigned"),
        ("moon", ModelStatus.PROD, True, "invalid_env"),
    ],
)
async def test_a_deployment_the_model_has_not_earned_is_refused(
    env: str, status: ModelStatus, signed: bool, code: str
) -> None:
    h = Harness()
    h.model(V1, status, signed=signed)
    out = await h.send(b.deploy_model(V1, deploy_id="d1", route="digits", env=env))
    assert [type(m) for m in out] == [DeploymentRefused]
    assert (out[0].code == code and V1 in out[0].reason) or code == "invalid_env"
    assert "d1" not in h.state.deployments


async def test_unknown_and_sandbox() -> None:
    h = Harness()
    out = await h.send(b.deploy_model(V1, deploy_id="d1", route="digits", env="sandbox"))
    assert out[0].code == "unknown_model"
    h.model(V1, ModelStatus.DRAFT, signed=False)
    out = await h.send(b.deploy_model(V1, deploy_id="d2", route="digits", env="sandbox"))
    assert isinstance(out[0], DeploymentRecorded)
    assert out[0].record.status == "pending"


async def test_first_deployment_takes_the_whole_route_once_it_answers() -> None:
    h = Harness((V1, ModelStatus.PROD))
    out = await h.send(b.deploy_model(V1, deploy_id="d1", route="digits"))
    assert h.status("d1") is DeploymentStatus.PENDING
    assert "digits" not in h.state.splits
    assert out[0].record.provenance.signer_id is not None
    assert await h.send(b.deploy_model(V1, deploy_id="d1", route="digits")) == []  # repeat
    await h.send(b.observe_replicas("d1", route="digits"))
    assert h.status("d1") is DeploymentStatus.SERVING
    assert h.split() == {"stable": 100}


async def canary_harness() -> Harness:
    h = Harness((V1, ModelStatus.PROD), (V2, ModelStatus.PROD))
    await h.serve("d1", V1)
    plan = CanaryConfig(steps=[5, 25, 50, 100], step_requests=100)
    await h.send(b.deploy_model(V2, deploy_id="d2", route="digits", canary_config=plan))
    busy = await h.send(b.deploy_model(V2, deploy_id="d3", route="digits"))
    assert busy[0].code == "route_busy"
    await h.send(b.observe_replicas("d2", route="digits"))
    assert h.status("d2") is DeploymentStatus.PENDING  # the baseline does not answer yet
    await h.send(b.observe_replicas("d2", route="digits", role="baseline"))
    assert h.status("d2") is DeploymentStatus.CANARY
    assert h.split() == {"stable": 90, "baseline": 5, "canary": 5}
    return h


async def test_a_healthy_canary_steps_to_100_and_supersedes_the_stable() -> None:
    h = await canary_harness()
    for step, seed in ((0, 1), (1, 2), (2, 3)):
        out = await h.send(window(step, canary_ms=10.0, seed=seed))
        analysed = [m for m in out if isinstance(m, CanaryAnalysed)]
        assert len(analysed) == 1
        assert analysed[0].decision == "pass", analysed[0].reason
    assert h.status("d2") is DeploymentStatus.SERVING
    assert h.status("d1") is DeploymentStatus.SUPERSEDED
    assert h.split() == {"stable": 100}
    assert h.state.splits["digits"].arms[0].deploy_id == "d2"


async def test_a_slow_canary_is_rolled_back_stable_first() -> None:
    h = await canary_harness()
    out = await h.send(window(0, canary_ms=13.0))
    kinds = [type(m).__name__ for m in out]
    assert kinds == ["CanaryAnalysed", "TrafficShifted", "DeploymentRecorded"]
    assert out[0].decision == "fail"
    assert any(v.metric == "latency_ms" and v.outcome == "fail" for v in out[0].verdicts)
    assert len(out[0].arms) == 2  # the samples are in the evidence
    assert out[1].arms[0].deploy_id == "d1"
    assert out[1].arms[0].weight == 100
    assert h.status("d2") is DeploymentStatus.ROLLED_BACK
    assert h.status("d1") is DeploymentStatus.SERVING


async def test_late_samples_of_an_earlier_step_change_nothing() -> None:
    h = await canary_harness()
    await h.send(window(0, canary_ms=10.0, seed=4))
    assert await h.send(window(0, canary_ms=30.0, seed=5)) == []


async def test_a_refused_model_fails_the_deployment_and_leaves_the_route() -> None:
    h = await canary_harness()
    h2 = Harness((V1, ModelStatus.PROD), (V2, ModelStatus.PROD))
    await h2.serve("d1", V1)
    await h2.send(b.deploy_model(V2, deploy_id="d2", route="digits"))
    out = await h2.send(
        b.observe_replicas("d2", route="digits", endpoints=(), refused="unsigned", reason="no")
    )
    assert [type(m) for m in out] == [DeploymentRefused, DeploymentRecorded]
    assert h2.status("d2") is DeploymentStatus.FAILED
    assert h2.split() == {"stable": 100}
    assert h.status("d2") is DeploymentStatus.CANARY


async def test_manual_rollback_returns_the_prior_version_once_it_answers() -> None:
    h = Harness((V1, ModelStatus.PROD), (V2, ModelStatus.PROD))
    await h.serve("d1", V1)
    await h.serve("d2", V2)
    assert h.status("d1") is DeploymentStatus.SUPERSEDED
    await h.send(b.rollback_deployment("d2", route="digits"))
    assert h.status("d1") is DeploymentStatus.PENDING
    assert h.state.splits["digits"].arms[0].deploy_id == "d2"  # until d1 answers
    await h.send(b.observe_replicas("d1", route="digits"))
    assert h.status("d1") is DeploymentStatus.SERVING
    assert h.status("d2") is DeploymentStatus.ROLLED_BACK
    out = await h.send(b.rollback_deployment("d2", route="digits"))
    assert out[0].code == "not_rollbackable"


async def test_scale_by_hand_and_by_load() -> None:
    h = Harness((V1, ModelStatus.PROD))
    await h.serve("d1", V1, resources=DeploymentResources(max_replicas=6))
    out = await h.send(b.scale_deployment("d1", route="digits", replicas=2))
    assert isinstance(out[0], ScaleDecided)
    assert out[0].to_replicas == 2
    assert h.state.deployments["d1"].resources.replicas == 2
    out = await h.send(b.observe_load("d1", route="digits", requests_per_s=240.0))
    scaled = [m for m in out if isinstance(m, ScaleDecided)]
    assert scaled
    assert scaled[0].trigger == "autoscale"
    assert scaled[0].to_replicas == 5
    h.clock.advance(600)
    bad = await h.send(b.scale_deployment("d9", route="digits"))
    assert bad[0].code == "not_scalable"


async def test_desired_state_maps_the_baseline_arm_to_the_canarys_baseline_replicas() -> None:
    h = await canary_harness()
    versions = desired_versions(h.state.deployments, lambda r: (f"/m/{r.model_id}", None))
    roles = sorted((v.deploy_id, v.model_id, v.role) for v in versions.values())
    assert roles == [("d1", V1, "stable"), ("d2", V1, "baseline"), ("d2", V2, "stable")]
    routes = desired_routes(h.state.deployments, h.state.splits, lambda r: ("x", None))
    arms = {a.name: a.version_key for a in routes["digits"].arms}
    assert arms["baseline"] in versions
    assert versions[arms["baseline"]].role == "baseline"
    assert versions[arms["canary"]].model_id == V2
    assert isinstance(h.state.splits["digits"], TrafficShifted)


async def test_a_window_without_samples_of_the_compared_arms_keeps_collecting() -> None:
    # The split moves while a window is open: its samples may all be the stable's.
    h = await canary_harness()
    only_stable = b.observe_canary(
        "d2",
        route="digits",
        step=0,
        arms=[b.arm_samples("stable", deploy_id="d1", latency_ms=[10.0] * 20)],
    )
    out = await h.send(only_stable)
    assert [type(m) for m in out] == [CanaryAnalysed]
    assert out[0].decision == "continue"
    assert {v.outcome for v in out[0].verdicts} == {"insufficient"}
    assert h.status("d2") is DeploymentStatus.CANARY
