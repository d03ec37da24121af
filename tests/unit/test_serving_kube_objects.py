"""The Kubernetes objects of a model version and a route, pinned field by field
(pure: what a cluster would run, without one)."""

from __future__ import annotations

import json

import pytest

from covenant.serving.runtimes import Arm, RouteSpec, ShadowSpec, VersionSpec, kube_routes
from covenant.serving.runtimes import kube_manifests as km

SPEC = VersionSpec(
    deploy_id="dep-7F3A", model_id="fraud:1.2.0", env="prod", artifact_uri="/cache/x.onnx",
    artifact_digest="sha256:" + "ab" * 32, replicas=3, manifest_uri="/cache/x.dsse.json",
    node_pool="gpu-a10", cpu="1", memory="1Gi", max_replicas=8, target_rps_per_replica=12.5,
    labels={"route": "fraud"},
)  # fmt: skip
TARGET = km.KubeTarget(namespace="models", image="registry.example/covenant:9")


def test_the_deployment_leaves_the_count_to_its_autoscaler() -> None:
    dep = km.deployment(SPEC, TARGET)
    assert "replicas" not in dep["spec"]
    scaler = km.hpa(SPEC, TARGET)["spec"]
    assert (scaler["minReplicas"], scaler["maxReplicas"]) == (3, 8)
    assert scaler["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": SPEC.key,
    }
    target = scaler["metrics"][0]["pods"]["target"]
    assert target == {"type": "AverageValue", "averageValue": "12500m"}


def test_a_floor_above_the_ceiling_raises_the_ceiling() -> None:
    from dataclasses import replace

    scaler = km.hpa(replace(SPEC, replicas=10, target_rps_per_replica=50.0), TARGET)["spec"]
    assert (scaler["minReplicas"], scaler["maxReplicas"]) == (10, 10)
    assert scaler["metrics"][0]["pods"]["target"]["averageValue"] == "50"


def test_the_pod_checks_the_model_and_runs_with_least_privilege() -> None:
    pod = km.deployment(SPEC, TARGET)["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["nodeSelector"] == {"covenant.dev/node-pool": "gpu-a10"}
    (fetch,) = pod["initContainers"]
    assert fetch["command"][:4] == ["covenant", "artifacts", "get", SPEC.artifact_digest]
    (server,) = pod["containers"]
    args = server["command"]
    for flag, value in [("--digest", SPEC.artifact_digest), ("--env", "prod"),
                        ("--manifest", "/etc/covenant/manifest/manifest.dsse.json"),
                        ("--trusted-key", "/etc/covenant/trusted/signer.pem")]:  # fmt: skip
        assert args[args.index(flag) + 1] == value
    assert "--warmup" in args
    assert server["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    security = server["securityContext"]
    assert security["readOnlyRootFilesystem"]
    assert security["runAsNonRoot"]
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert server["resources"]["limits"] == {"cpu": "1", "memory": "1Gi"}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["manifest"]["configMap"]["name"] == km.manifest_name_of(SPEC.key)


def test_an_unsigned_sandbox_version_mounts_no_manifest() -> None:
    from dataclasses import replace

    pod = km.deployment(replace(SPEC, env="sandbox", manifest_uri=None), TARGET)
    spec = pod["spec"]["template"]["spec"]
    assert "--manifest" not in spec["containers"][0]["command"]
    assert "manifest" not in {v["name"] for v in spec["volumes"]}


def test_the_spec_round_trips_through_the_annotation() -> None:
    dep = km.deployment(SPEC, TARGET)
    assert km.spec_from_annotation(dep["metadata"]["annotations"]) == SPEC
    assert km.spec_from_annotation({}) is None
    # on the Deployment, not its pods: a resize must not roll the pods
    assert km.SPEC_ANNOTATION not in dep["spec"]["template"]["metadata"].get("annotations", {})


def test_labels_are_valid_label_values() -> None:
    labels = km.deployment(SPEC, TARGET)["metadata"]["labels"]
    assert labels["covenant.dev/deploy-id"] == "dep-7f3a"
    assert labels["covenant.dev/version"] == "1-2-0"
    assert all(len(v) <= 63 for v in labels.values())


def test_object_names_refuse_what_has_no_usable_character() -> None:
    assert km.object_name("Fraud_Model.v2") == "fraud-model-v2"
    with pytest.raises(ValueError, match="no character"):
        km.object_name("__")


ROUTE = RouteSpec(
    route="fraud",
    arms=(Arm("stable", "dep-1-1-stable", 90), Arm("baseline", "dep-1-1-baseline", 5),
          Arm("canary", "dep-2-2-stable", 5)),
    shadow=ShadowSpec("dep-3-3-stable", 0.125),
    sticky_key="x-user",
)  # fmt: skip


def test_the_route_holds_weights_mirror_and_stickiness() -> None:
    families = {"dep-1-1-stable": "fraud", "dep-1-1-baseline": "fraud", "dep-2-2-stable": "fraud2"}
    obj = kube_routes.http_route(ROUTE, TARGET, families)
    (rule,) = obj["spec"]["rules"]
    assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/v2/models/fraud"}}]
    weights = [(b["name"], b["weight"]) for b in rule["backendRefs"]]
    assert weights == [("dep-1-1-stable", 90), ("dep-1-1-baseline", 5), ("dep-2-2-stable", 5)]
    rewrite = rule["backendRefs"][2]["filters"][0]["urlRewrite"]["path"]
    assert rewrite == {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/v2/models/fraud2"}
    assert "filters" not in rule["backendRefs"][0]
    mirror = rule["filters"][0]["requestMirror"]
    assert mirror["fraction"] == {"numerator": 1250, "denominator": 10_000}
    assert rule["sessionPersistence"] == {"type": "Header", "sessionName": "x-user"}
    assert obj["spec"]["parentRefs"] == [{"name": "covenant"}]


def test_the_route_reads_back_as_written() -> None:
    obj = json.loads(json.dumps(kube_routes.http_route(ROUTE, TARGET, {})))
    assert kube_routes.route_from_object(obj) == ROUTE
    assert kube_routes.route_from_object({"metadata": {}, "spec": {}}) is None


def test_the_serving_runtime_setting_names_what_it_refuses() -> None:
    from covenant.errors import ConfigError
    from covenant.settings import Settings

    assert Settings.from_env({}).serving_runtime == "local"
    chosen = Settings.from_env({"COVENANT_SERVING_RUNTIME": "kubernetes"})
    assert chosen.serving_runtime == "kubernetes"
    with pytest.raises(ConfigError, match="COVENANT_SERVING_RUNTIME='k8s' is not one of"):
        Settings.from_env({"COVENANT_SERVING_RUNTIME": "k8s"})


async def test_the_kubernetes_part_refuses_to_run_outside_a_cluster(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncio

    from covenant.errors import ConfigError
    from covenant.serving.part import run_kubernetes_serving
    from covenant.settings import Settings

    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    settings = Settings.from_env({"COVENANT_SERVING_RUNTIME": "kubernetes"})
    with pytest.raises(ConfigError, match="runs inside a cluster"):
        await run_kubernetes_serving(
            settings=settings,
            bus=None,
            codec=None,
            blobs=None,
            stop=asyncio.Event(),  # type: ignore[arg-type]
        )
