"""The serving-runtime port's contract, run against every adapter: ``local`` (real
model-server processes behind the router) and ``kubernetes`` (a real kube-apiserver,
where no pod runs: what it accepts and stores is what is checked).

Every call is idempotent and keyed by what it names, because the serving agent may
repeat any of them after a crash.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

import pytest

from covenant.dataplane.router import Router
from covenant.serving.runtimes import Arm, RouteSpec, ServingRuntime, VersionSpec
from covenant.serving.runtimes.local import LocalRuntime
from eval_models import fitted, onnx_bytes
from kube_cluster import KubeCluster

Specs = Callable[..., VersionSpec]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("runtime") / "model.onnx"
    data = onnx_bytes(fitted(), zipmap=False)
    path.write_bytes(data)
    return path, "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture(params=["local", pytest.param("kubernetes", marks=pytest.mark.kube)])
async def runtime(request: pytest.FixtureRequest) -> AsyncIterator[ServingRuntime]:
    if request.param == "local":
        router = Router(seed=1)
        await router.start()
        local = LocalRuntime(router=router)
        try:
            yield local
        finally:
            await local.close()
            await router.close()
        return
    from covenant.serving.runtimes.kubernetes import KubernetesRuntime

    cluster: KubeCluster = request.getfixturevalue("kube_serving")
    kube = KubernetesRuntime.connect(cluster.host, cluster.runtime_token, ca_file=cluster.ca_file)
    try:
        yield kube
    finally:
        await kube.close()


@pytest.fixture
def specs(model: tuple[Path, str]) -> Specs:
    """Version specs of one fresh deployment (tests share a namespace)."""
    deploy = f"dep-{uuid.uuid4().hex[:8]}"

    def make(version: str = "1.0.0", role: str = "stable", replicas: int = 1) -> VersionSpec:
        return VersionSpec(
            deploy_id=deploy, model_id=f"digits:{version}", env="sandbox",
            artifact_uri=str(model[0]), artifact_digest=model[1], replicas=replicas, role=role,
        )  # fmt: skip

    return make


async def test_applying_twice_changes_nothing(runtime: ServingRuntime, specs: Specs) -> None:
    spec = specs(replicas=2)
    first = await runtime.apply(spec)
    second = await runtime.apply(spec)
    assert (first.key, first.desired) == (spec.key, 2)
    assert (second.key, second.desired) == (spec.key, 2)
    status = await runtime.status(spec.key)
    assert status is not None
    assert status.desired == 2
    await runtime.remove(spec.key)


async def test_scale_sets_the_count_of_an_applied_version(
    runtime: ServingRuntime, specs: Specs
) -> None:
    spec = specs()
    await runtime.apply(spec)
    scaled = await runtime.scale(spec.key, 3)
    assert scaled.desired == 3
    status = await runtime.status(spec.key)
    assert status is not None
    assert status.desired == 3
    with pytest.raises(KeyError):
        await runtime.scale(f"{spec.key}-never-applied", 2)
    await runtime.remove(spec.key)


async def test_canary_weights_are_stored_as_given(runtime: ServingRuntime, specs: Specs) -> None:
    stable, baseline, canary = specs(), specs(role="baseline"), specs("2.0.0")
    for spec in (stable, baseline, canary):
        await runtime.apply(spec)
    route = f"r-{stable.deploy_id}"
    for weights in [(90, 5, 5), (50, 25, 25), (0, 0, 100)]:
        split = RouteSpec(
            route=route,
            arms=tuple(
                Arm(name, spec.key, weight)
                for name, spec, weight in zip(
                    ("stable", "baseline", "canary"),
                    (stable, baseline, canary),
                    weights,
                    strict=True,
                )
            ),
        )
        await runtime.route(split)
        await runtime.route(split)
        assert await runtime.routes(route) == split
    for spec in (stable, baseline, canary):
        await runtime.remove(spec.key)
    await runtime.remove_route(route)


async def test_rollback_gives_stable_all_traffic_before_the_canary_goes(
    runtime: ServingRuntime, specs: Specs
) -> None:
    stable, canary = specs(), specs("2.0.0")
    await runtime.apply(stable)
    await runtime.apply(canary)
    route = f"r-{stable.deploy_id}"
    await runtime.route(
        RouteSpec(route, (Arm("stable", stable.key, 75), Arm("canary", canary.key, 25)))
    )
    rolled_back = RouteSpec(route, (Arm("stable", stable.key, 100),))
    await runtime.route(rolled_back)
    assert await runtime.routes(route) == rolled_back
    await runtime.remove(canary.key)
    assert await runtime.status(canary.key) is None
    assert await runtime.routes(route) == rolled_back
    still = await runtime.status(stable.key)
    assert still is not None
    assert still.desired == 1
    await runtime.remove(stable.key)
    await runtime.remove_route(route)


async def test_what_is_absent_is_absent_and_removing_it_is_fine(
    runtime: ServingRuntime, specs: Specs
) -> None:
    spec = specs()
    assert await runtime.status(spec.key) is None
    assert await runtime.routes(f"r-{spec.deploy_id}") is None
    await runtime.remove(spec.key)
    await runtime.remove_route(f"r-{spec.deploy_id}")
    await runtime.apply(replace(spec, replicas=1))
    await runtime.remove(spec.key)
    await runtime.remove(spec.key)
    assert await runtime.status(spec.key) is None
