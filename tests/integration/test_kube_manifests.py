"""Covenant's kustomization, as a real kube-apiserver judges it.

Every object of ``deploy/kubernetes/covenant`` is server-side applied with
``dryRun=All`` and ``fieldValidation=Strict``, so the API server runs its schema
validation, defaulting and admission (Pod Security "restricted" included) on each one
exactly as ``kubectl apply --server-side`` would, and stores nothing. A misspelt field,
a wrong type, or a pod template that restricted Pod Security would refuse fails here
instead of at someone's first deploy.

Then the serving runtime's grants (``serving-rbac.yaml``) are applied for real and
tried with the runtime's own token: the least privilege its header promises is what
the RBAC authorizer enforces.

Nothing is deleted at the end: no namespace controller runs on the test server, so a
deleted Namespace would stay Terminating for the rest of the session; applying the
same objects again is a no-op, whoever else applies them.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from kube_cluster import KubeCluster

pytestmark = pytest.mark.kube

REPO = Path(__file__).resolve().parents[2]
KUSTOMIZATION = REPO / "deploy" / "kubernetes" / "covenant"
FIELD_MANAGER = "covenant-manifest-tests"
NAMESPACE = "covenant"


def rendered_objects() -> list[dict[str, Any]]:
    """The kustomization's objects: ``kustomize build`` (or ``kubectl kustomize``)
    where one is installed, else its ``resources`` files read in order — the same
    thing, since the kustomization has no transformers."""
    tool = shutil.which("kustomize")
    command = [tool, "build"] if tool else None
    if command is None and (kubectl := shutil.which("kubectl")):
        command = [kubectl, "kustomize"]
    if command is not None:
        out = subprocess.run(
            [*command, str(KUSTOMIZATION)], capture_output=True, text=True, timeout=60, check=False
        )
        assert out.returncode == 0, f"{' '.join(command)} failed:\n{out.stderr}"
        return [doc for doc in yaml.safe_load_all(out.stdout) if doc]
    return files_objects()


def files_objects() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((KUSTOMIZATION / "kustomization.yaml").read_text())
    objects = []
    for name in kustomization["resources"]:
        text = (KUSTOMIZATION / name).read_text()
        objects += [doc for doc in yaml.safe_load_all(text) if doc]
    return objects


def _id(obj: dict[str, Any]) -> str:
    return f"{obj['kind']}/{obj['metadata'].get('namespace', '-')}/{obj['metadata']['name']}"


class Api:
    """Just enough of the Kubernetes REST API: discovery, server-side apply, create."""

    def __init__(self, cluster: KubeCluster, token: str) -> None:
        context = ssl.create_default_context(cafile=str(cluster.ca_file))
        self.http = httpx.Client(
            base_url=cluster.host,
            verify=context,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        self._resources: dict[tuple[str, str], tuple[str, bool]] = {}

    def close(self) -> None:
        self.http.close()

    def _resource(self, api_version: str, kind: str) -> tuple[str, bool]:
        """(plural, namespaced) of ``kind``, from the server's own discovery, so a
        kind the server does not serve fails with its name rather than a bare 404."""
        key = (api_version, kind)
        if key not in self._resources:
            base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
            listing = self.http.get(base)
            assert listing.status_code == 200, f"{base}: {listing.text[:500]}"
            for item in listing.json()["resources"]:
                if "/" not in item["name"]:
                    self._resources[(api_version, item["kind"])] = (
                        item["name"],
                        item["namespaced"],
                    )
        assert key in self._resources, f"the API server does not serve {kind} in {api_version}"
        return self._resources[key]

    def path(self, obj: dict[str, Any], *, named: bool = True) -> str:
        api_version = obj["apiVersion"]
        plural, namespaced = self._resource(api_version, obj["kind"])
        base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        if namespaced:
            base += f"/namespaces/{obj['metadata']['namespace']}"
        base += f"/{plural}"
        return f"{base}/{obj['metadata']['name']}" if named else base

    def apply(self, obj: dict[str, Any], *, dry_run: bool) -> httpx.Response:
        params = {"fieldManager": FIELD_MANAGER, "fieldValidation": "Strict", "force": "true"}
        if dry_run:
            params["dryRun"] = "All"
        return self.http.patch(
            self.path(obj),
            params=params,
            content=yaml.safe_dump(obj),
            headers={"Content-Type": "application/apply-patch+yaml"},
        )

    def create_dry_run(self, obj: dict[str, Any]) -> httpx.Response:
        return self.http.post(
            self.path(obj, named=False),
            params={"dryRun": "All", "fieldManager": FIELD_MANAGER},
            json=obj,
        )


@pytest.fixture
def admin(kube_cluster: KubeCluster) -> Iterator[Api]:
    api = Api(kube_cluster, kube_cluster.admin_token)
    try:
        yield api
    finally:
        api.close()


@pytest.fixture
def runtime(kube_cluster: KubeCluster) -> Iterator[Api]:
    api = Api(kube_cluster, kube_cluster.runtime_token)
    try:
        yield api
    finally:
        api.close()


def _namespace(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (namespace,) = [o for o in objects if o["kind"] == "Namespace"]
    return namespace


def test_the_kustomization_renders_its_files_as_written() -> None:
    rendered = rendered_objects()
    assert sorted(map(_id, rendered)) == sorted(map(_id, files_objects()))
    kinds = {o["kind"] for o in rendered}
    expected = {"Namespace", "ConfigMap", "Deployment", "Service", "NetworkPolicy"}
    assert expected | {"ServiceAccount", "Role", "RoleBinding"} <= kinds
    namespaced = [o for o in rendered if o["kind"] != "Namespace"]
    assert {o["metadata"]["namespace"] for o in namespaced} == {NAMESPACE}


def test_the_api_server_accepts_every_object(admin: Api) -> None:
    objects = rendered_objects()
    # The Namespace for real first, so the namespaced dry runs resolve and Pod
    # Security admission reads its "restricted" labels.
    real = admin.apply(_namespace(objects), dry_run=False)
    assert real.status_code in (200, 201), real.text
    refused, warned = [], []
    for obj in objects:
        answer = admin.apply(obj, dry_run=True)
        if answer.status_code not in (200, 201):
            refused.append(f"{_id(obj)}: {answer.status_code} {answer.text[:1500]}")
        # Pod Security warns (rather than refuses) for workload objects whose pod
        # template breaks the level; unknown fields warn too outside Strict.
        warned += [f"{_id(obj)}: {w}" for w in answer.headers.get_list("warning")]
        if answer.status_code in (200, 201):
            applied = answer.json()
            assert applied["kind"] == obj["kind"]
            assert applied["metadata"]["name"] == obj["metadata"]["name"]
    assert not refused, "the API server refused:\n" + "\n".join(refused)
    assert not warned, "the API server warned:\n" + "\n".join(warned)


def test_the_control_plane_listens_where_its_probes_and_service_look() -> None:
    objects = {(o["kind"], o["metadata"]["name"]): o for o in rendered_objects()}
    settings = objects[("ConfigMap", "covenant-settings")]["data"]
    assert settings["COVENANT_GATEWAY"] == "http://0.0.0.0:8750"
    deployment = objects[("Deployment", "covenant")]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["gateway"] == 8750
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "gateway"}, probe
    service = objects[("Service", "covenant")]
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= set(ports)
    assert pod["serviceAccountName"] == "covenant-serving"
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    # Secrets only by reference.
    for env in container["env"]:
        assert "value" not in env, env["name"]
        assert "secretKeyRef" in env["valueFrom"], env["name"]


def _wait_allowed(attempt: Any, timeout_s: float = 15.0) -> httpx.Response:
    """The RBAC authorizer learns a new Role and RoleBinding from its informers, a
    moment after they are stored: retry a 403 until the grant shows."""
    deadline = time.monotonic() + timeout_s
    while True:
        answer: httpx.Response = attempt()
        if answer.status_code != 403 or time.monotonic() > deadline:
            return answer
        time.sleep(0.3)


def _model_server(namespace: str) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": "model-server", "app.kubernetes.io/part-of": "covenant"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "digits-1-0-0", "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 10001,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "server",
                            "image": "covenant:0.1.0",
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]},
                            },
                        }
                    ],
                },
            },
        },
    }


def test_the_serving_runtime_holds_its_grants_and_no_more(admin: Api, runtime: Api) -> None:
    objects = files_objects()
    real = admin.apply(_namespace(objects), dry_run=False)
    assert real.status_code in (200, 201), real.text
    rbac = yaml.safe_load_all((KUSTOMIZATION / "serving-rbac.yaml").read_text())
    for obj in rbac:
        answer = admin.apply(obj, dry_run=False)
        assert answer.status_code in (200, 201), f"{_id(obj)}: {answer.text[:1000]}"

    allowed = _wait_allowed(lambda: runtime.create_dry_run(_model_server(NAMESPACE)))
    assert allowed.status_code == 201, allowed.text[:1000]
    assert not allowed.headers.get_list("warning"), "the model server breaks restricted PSS"

    secrets = runtime.http.get(f"/api/v1/namespaces/{NAMESPACE}/secrets")
    assert secrets.status_code == 403, secrets.text[:500]
    one_secret = runtime.http.get(f"/api/v1/namespaces/{NAMESPACE}/secrets/covenant-store")
    assert one_secret.status_code == 403, one_secret.text[:500]
    elsewhere = runtime.create_dry_run(_model_server("default"))
    assert elsewhere.status_code == 403, elsewhere.text[:500]
    # it reads pods (a refused model's reason is in their status), never changes one
    pods = runtime.http.get(f"/api/v1/namespaces/{NAMESPACE}/pods")
    assert pods.status_code == 200, pods.text[:500]
    gone = runtime.http.delete(f"/api/v1/namespaces/{NAMESPACE}/pods/any")
    assert gone.status_code == 403, gone.text[:500]
    execute = runtime.http.post(f"/api/v1/namespaces/{NAMESPACE}/pods/any/exec")
    assert execute.status_code == 403, execute.text[:500]
