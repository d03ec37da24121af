"""The ``kubernetes`` runtime against a real kube-apiserver: the objects a deploy, a
scale, a canary and a rollback leave, that applying twice changes nothing, status
from the watch, a refused model read from its pod, and the runtime's identity held
to its Role. No pod runs (no kubelet): status changes are written as a kubelet and
the controllers would write them, through the status subresource."""

from __future__ import annotations

import asyncio
import json
import ssl
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from covenant.serving.runtimes import Arm, RouteSpec, ShadowSpec, VersionSpec
from covenant.serving.runtimes.kubernetes import ClusterError, KubernetesRuntime
from kube_cluster import KubeCluster

pytestmark = pytest.mark.kube
NS = "covenant"
DIGEST = "sha256:" + "5e" * 32


@pytest.fixture
async def runtime(kube_serving: KubeCluster) -> AsyncIterator[KubernetesRuntime]:
    kube = KubernetesRuntime.connect(
        kube_serving.host, kube_serving.runtime_token, ca_file=kube_serving.ca_file
    )
    try:
        yield kube
    finally:
        await kube.close()


@pytest.fixture
def admin(kube_serving: KubeCluster) -> Callable[..., httpx.Response]:
    """A plain HTTP call as the administrator, to see what the API server stores."""
    context = ssl.create_default_context(cafile=str(kube_serving.ca_file))

    def call(method: str, path: str, body: Any = None, content_type: str = "") -> httpx.Response:
        headers = {"Authorization": f"Bearer {kube_serving.admin_token}"}
        if content_type:
            headers["Content-Type"] = content_type
        content = json.dumps(body) if body is not None else None
        url = f"{kube_serving.host}{path}"
        return httpx.request(method, url, headers=headers, content=content, verify=context)

    return call


def _spec(tmp_path: Path, version: str = "1.0.0", **kw: Any) -> VersionSpec:
    manifest = tmp_path / f"{version}.dsse.json"
    manifest.write_text('{"payloadType": "application/vnd.in-toto+json", "signatures": []}')
    fields: dict[str, Any] = dict(
        deploy_id=f"dep-{uuid.uuid4().hex[:8]}", model_id=f"fraud:{version}", env="prod",
        artifact_uri=str(tmp_path / "m.onnx"), artifact_digest=DIGEST, replicas=2,
        manifest_uri=str(manifest), max_replicas=6,
    )  # fmt: skip
    return VersionSpec(**(fields | kw))


OBJECTS = {
    "deployment": "/apis/apps/v1/namespaces/covenant/deployments/{}",
    "service": "/api/v1/namespaces/covenant/services/{}",
    "hpa": "/apis/autoscaling/v2/namespaces/covenant/horizontalpodautoscalers/{}",
    "manifest": "/api/v1/namespaces/covenant/configmaps/{}-manifest",
}


def _stored(admin: Callable[..., httpx.Response], key: str) -> dict[str, dict[str, Any]]:
    out = {}
    for kind, path in OBJECTS.items():
        answer = admin("GET", path.format(key))
        assert answer.status_code == 200, (kind, answer.text)
        out[kind] = answer.json()
    return out


async def test_deploy_makes_the_objects_and_applying_again_changes_none(
    runtime: KubernetesRuntime, admin: Callable[..., httpx.Response], tmp_path: Path
) -> None:
    spec = _spec(tmp_path)
    await runtime.apply(spec)
    first = _stored(admin, spec.key)
    assert first["hpa"]["spec"]["minReplicas"] == 2
    assert first["hpa"]["spec"]["maxReplicas"] == 6
    assert first["service"]["spec"]["selector"] == {"covenant.dev/replica-set": spec.key}
    assert "signatures" in first["manifest"]["data"]["manifest.dsse.json"]
    pod = first["deployment"]["spec"]["template"]["spec"]
    assert pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    # the API server defaulted the count; Covenant never wrote it, so never fights the HPA
    managed = first["deployment"]["metadata"]["managedFields"]
    assert all("f:replicas" not in json.dumps(m.get("fieldsV1", {})) for m in managed)
    await runtime.apply(spec)
    again = _stored(admin, spec.key)
    for kind in OBJECTS:
        assert (
            again[kind]["metadata"]["resourceVersion"] == first[kind]["metadata"]["resourceVersion"]
        ), kind
    await runtime.remove(spec.key)
    for path in OBJECTS.values():
        assert admin("GET", path.format(spec.key)).status_code == 404


async def test_scale_moves_the_floor_and_rolls_no_pod(
    runtime: KubernetesRuntime, admin: Callable[..., httpx.Response], tmp_path: Path
) -> None:
    spec = _spec(tmp_path)
    await runtime.apply(spec)
    before = _stored(admin, spec.key)
    await runtime.scale(spec.key, 9)
    after = _stored(admin, spec.key)
    assert after["hpa"]["spec"]["minReplicas"] == 9
    assert after["hpa"]["spec"]["maxReplicas"] == 9
    # the spec annotation moved (Deployments count that as a new generation), the pod
    # template did not: no new ReplicaSet, no pod restarted by a resize
    assert after["deployment"]["spec"]["template"] == before["deployment"]["spec"]["template"]
    await runtime.remove(spec.key)


async def test_a_canary_then_a_rollback_as_the_http_route_stores_them(
    runtime: KubernetesRuntime, admin: Callable[..., httpx.Response], tmp_path: Path
) -> None:
    stable = _spec(tmp_path)
    baseline = _spec(tmp_path, deploy_id=stable.deploy_id, role="baseline")
    canary = _spec(tmp_path, "2.0.0", model_id="fraud-v2:2.0.0")
    for spec in (stable, baseline, canary):
        await runtime.apply(spec)
    route = f"fraud-{stable.deploy_id}"
    path = f"/apis/gateway.networking.k8s.io/v1/namespaces/{NS}/httproutes/{route}"
    split = RouteSpec(
        route,
        (Arm("stable", stable.key, 90), Arm("baseline", baseline.key, 5),
         Arm("canary", canary.key, 5)),
        shadow=ShadowSpec(canary.key, 0.1),
        sticky_key="x-session",
    )  # fmt: skip
    await runtime.route(split)
    stored = admin("GET", path).json()
    (rule,) = stored["spec"]["rules"]
    assert [(b["name"], b["weight"]) for b in rule["backendRefs"]] == [
        (stable.key, 90), (baseline.key, 5), (canary.key, 5),
    ]  # fmt: skip
    rewrite = rule["backendRefs"][2]["filters"][0]["urlRewrite"]["path"]["replacePrefixMatch"]
    assert rewrite == "/v2/models/fraud-v2"  # the canary is another family: rewritten
    assert rule["filters"][0]["requestMirror"]["backendRef"]["name"] == canary.key
    assert rule["sessionPersistence"]["sessionName"] == "x-session"
    assert await runtime.routes(route) == split
    version = stored["metadata"]["resourceVersion"]
    await runtime.route(split)
    assert admin("GET", path).json()["metadata"]["resourceVersion"] == version

    rolled_back = RouteSpec(route, (Arm("stable", stable.key, 100),))
    await runtime.route(rolled_back)
    (rule,) = admin("GET", path).json()["spec"]["rules"]
    (backend,) = rule["backendRefs"]
    assert (backend["name"], backend["port"], backend["weight"]) == (stable.key, 8080, 100)
    assert "filters" not in rule
    assert "sessionPersistence" not in rule  # SSA removes the fields we stopped writing
    for spec in (baseline, canary):
        await runtime.remove(spec.key)
    assert admin("GET", OBJECTS["deployment"].format(canary.key)).status_code == 404
    assert admin("GET", OBJECTS["deployment"].format(stable.key)).status_code == 200
    await runtime.remove_route(route)
    assert admin("GET", path).status_code == 404
    await runtime.remove(stable.key)


async def _until(check: Callable[[], Any], tries: int = 200) -> None:
    for _ in range(tries):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the runtime never saw the change")


async def test_status_follows_the_watch_and_reports_a_refused_model(
    runtime: KubernetesRuntime, admin: Callable[..., httpx.Response], tmp_path: Path
) -> None:
    spec = _spec(tmp_path, replicas=3)
    status = await runtime.apply(spec)
    assert (status.desired, status.ready, status.endpoints) == (3, 0, ())
    patch = "application/merge-patch+json"
    path = OBJECTS["deployment"].format(spec.key) + "/status"
    answer = admin("PATCH", path, {"status": {"replicas": 3, "readyReplicas": 2}}, patch)
    assert answer.status_code == 200, answer.text

    async def two_ready() -> bool:
        now = await runtime.status(spec.key)
        return now is not None and now.ready == 2

    await _until(two_ready)
    now = await runtime.status(spec.key)
    assert now is not None
    assert now.endpoints == (f"http://{spec.key}.{NS}.svc:8080",)

    # one replica's server refused the model: exit 78, its last stderr line the reason
    pod = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": f"{spec.key}-x1", "namespace": NS,
                     "labels": {"covenant.dev/replica-set": spec.key}},
        # an existing service account (no controller manager makes "default" here), and
        # within Pod Security "restricted", which the namespace may enforce
        "spec": {"serviceAccountName": "covenant-serving", "automountServiceAccountToken": False,
                 "securityContext": {"runAsNonRoot": True, "runAsUser": 10001,
                                     "seccompProfile": {"type": "RuntimeDefault"}},
                 "containers": [{"name": "model-server", "image": "covenant",
                                 "securityContext": {"allowPrivilegeEscalation": False,
                                                     "capabilities": {"drop": ["ALL"]}}}]},
    }  # fmt: skip
    answer = admin("POST", f"/api/v1/namespaces/{NS}/pods", pod, "application/json")
    assert answer.is_success, answer.text
    terminated = {
        "exitCode": 78,
        "message": 'loading\n{"refused": "untrusted_signer", "reason": "key abc not trusted"}',
    }
    container = {
        "name": "model-server", "image": "covenant", "imageID": "", "ready": False,
        "restartCount": 4, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "lastState": {"terminated": terminated},
    }  # fmt: skip
    status_path = f"/api/v1/namespaces/{NS}/pods/{spec.key}-x1/status"
    answer = admin("PATCH", status_path, {"status": {"containerStatuses": [container]}}, patch)
    assert answer.status_code == 200, answer.text
    now = await runtime.status(spec.key)
    assert now is not None
    assert now.message == "refused:untrusted_signer: key abc not trusted"
    admin("DELETE", f"/api/v1/namespaces/{NS}/pods/{spec.key}-x1")
    await runtime.remove(spec.key)


async def test_the_runtime_identity_holds_only_its_role(
    kube_serving: KubeCluster, runtime: KubernetesRuntime, tmp_path: Path
) -> None:
    context = ssl.create_default_context(cafile=str(kube_serving.ca_file))
    headers = {"Authorization": f"Bearer {kube_serving.runtime_token}"}
    async with httpx.AsyncClient(headers=headers, verify=context) as http:
        for path in (f"/api/v1/namespaces/{NS}/secrets", "/api/v1/namespaces/default/services"):
            answer = await http.get(f"{kube_serving.host}{path}")
            assert answer.status_code == 403, path
    from covenant.serving.runtimes.kube_manifests import KubeTarget

    elsewhere = KubernetesRuntime.connect(
        kube_serving.host, kube_serving.runtime_token, ca_file=kube_serving.ca_file,
        target=KubeTarget(namespace="default"),
    )  # fmt: skip
    try:
        with pytest.raises(ClusterError, match=r"403.*serving-rbac\.yaml"):
            await elsewhere.apply(_spec(tmp_path))
    finally:
        await elsewhere.close()
