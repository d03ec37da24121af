"""The Kubernetes objects of a model version and a route, as plain data (no I/O).

One ``VersionSpec`` becomes a Deployment, a Service, an HPA (autoscaling/v2) and,
for a signed model, a ConfigMap holding its DSSE envelope; one ``RouteSpec`` becomes
a Gateway API ``HTTPRoute`` (``kube_routes``). The adapter (``kubernetes.py``) server-side applies
them; keeping them pure lets the unit tests pin every field a cluster would run.

Choices a reviewer should know:

* The Deployment has **no** ``replicas`` field. The HPA owns the count; a
  Deployment that names one would be fought over on every apply. Covenant's decided
  size is the HPA's ``minReplicas`` (a floor the autoscaler never goes below), so a
  canary's baseline is never smaller than its canary.
* The spec the objects were made from is kept in the Deployment's
  ``covenant.dev/spec`` annotation (on the Deployment, not the pod template, so a
  resize never restarts a pod), which is how ``scale`` rebuilds them.
* The model file is fetched by an init container with ``covenant artifacts get``,
  which hashes the bytes on the way and keeps them only when they match; the server
  checks the digest again, then the manifest against the trusted keys mounted from
  a ConfigMap the operator owns. The pod runs as non-root with a read-only root
  file system, no capabilities and no service-account token.
* Readiness is the server's ``/v2/health/ready``, which answers only after the
  warm-up inference (``--warmup``): a replica gets traffic once it has answered.
* With ``KubeTarget.samples_bus`` and a ``sample_rate`` above 0, a deployment's own
  replicas (role ``stable``, with a ``route`` label) publish that share of their
  answered rows to the drift samples topic (``--samples-bus``); a canary's baseline
  replicas do not (they serve the stable version, which samples already).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from covenant import __version__
from covenant.serving.runtimes.protocol import VersionSpec

__all__ = [
    "MANAGED_BY",
    "PORT",
    "SPEC_ANNOTATION",
    "KubeTarget",
    "config_map",
    "deployment",
    "hpa",
    "manifest_name_of",
    "meta",
    "object_name",
    "service",
    "spec_from_annotation",
]

MANAGED_BY = "covenant-serving"
SPEC_ANNOTATION = "covenant.dev/spec"
PORT = 8080
_MODELS = "/models"
_TRUSTED = "/etc/covenant/trusted"
_MANIFEST = "/etc/covenant/manifest"


@dataclass(frozen=True, slots=True)
class KubeTarget:
    """Where and how model versions run in a cluster.

    Attributes:
        namespace: the namespace the runtime writes to (its Role is scoped to it).
        image: the Covenant runtime image (model server and CLI).
        gateway: the Gateway the routes attach to, and its namespace (None: the
            routes' own).
        control_plane_url: where the init container fetches artifacts from (the
            Covenant gateway's in-cluster Service).
        trusted_keys_configmap: the operator's ConfigMap of trusted manifest-signer
            PEM public keys; ``trusted_key_files`` are its keys to pass the server.
        rps_metric: the per-pod request-rate metric the HPA reads (served by a
            metrics adapter from the servers' ``covenant_model_requests_total``).
        samples_bus: the log the servers publish drift samples to, as they reach it
            (a ``kafka://`` URL; empty: no samples); ``sample_rate`` is the share
            of answered rows they publish (0: none).
    """

    namespace: str = "covenant"
    image: str = f"ghcr.io/covenant-ml/covenant:{__version__}"
    gateway: str = "covenant"
    gateway_namespace: str | None = None
    control_plane_url: str = "http://covenant.covenant.svc:8750"
    trusted_keys_configmap: str = "covenant-trusted-keys"
    trusted_key_files: tuple[str, ...] = ("signer.pem",)
    rps_metric: str = "covenant_model_requests_per_second"
    samples_bus: str = ""
    sample_rate: float = 0.0


def object_name(raw: str) -> str:
    """A DNS-1123 label from any route or key: lower case, digits and dashes."""
    name = "".join(c if c.isalnum() else "-" for c in raw.lower()).strip("-")[:63].strip("-")
    if not name:
        raise ValueError(f"{raw!r} has no character usable in a Kubernetes object name")
    return name


def _labels(spec: VersionSpec) -> dict[str, str]:
    family, _, version = spec.model_id.rpartition(":")
    return {
        "app.kubernetes.io/name": "covenant-model-server",
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "covenant.dev/replica-set": spec.key,
        "covenant.dev/deploy-id": object_name(spec.deploy_id),
        "covenant.dev/role": spec.role,
        "covenant.dev/model": object_name(family or spec.model_id),
        "covenant.dev/version": object_name(version or "none"),
        "covenant.dev/env": spec.env,
    }


def meta(name: str, target: KubeTarget, labels: Mapping[str, str], **extra: Any) -> Any:
    return {"name": name, "namespace": target.namespace, "labels": dict(labels), **extra}


def manifest_name_of(key: str) -> str:
    """The ConfigMap holding version ``key``'s DSSE envelope."""
    return f"{key[:54].rstrip('-')}-manifest"


def config_map(spec: VersionSpec, target: KubeTarget, envelope: str) -> dict[str, Any]:
    """The DSSE envelope the server verifies before it loads (public, not a secret)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta(manifest_name_of(spec.key), target, _labels(spec)),
        "data": {"manifest.dsse.json": envelope},
    }


def _server_args(spec: VersionSpec, target: KubeTarget) -> list[str]:
    args = [
        "python", "-m", "covenant.model_server",
        "--model-id", spec.model_id,
        "--model", f"{_MODELS}/model.onnx",
        "--digest", spec.artifact_digest,
        "--env", spec.env,
        "--host", "0.0.0.0",  # inside the pod: the Service fronts it
        "--port", str(PORT),
        "--warmup",
    ]  # fmt: skip
    if spec.manifest_uri is not None:
        args += ["--manifest", f"{_MANIFEST}/manifest.dsse.json"]
    for name in target.trusted_key_files:
        args += ["--trusted-key", f"{_TRUSTED}/{name}"]
    route = spec.labels.get("route", "")
    if target.samples_bus and target.sample_rate > 0 and spec.role == "stable" and route:
        args += ["--samples-bus", target.samples_bus, "--sample-rate", str(target.sample_rate)]
        args += ["--route", route, "--deploy-id", spec.deploy_id]
    return args


_SECURE = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
}


def deployment(spec: VersionSpec, target: KubeTarget) -> dict[str, Any]:
    """The version's replicas; see the module docstring for what is left out and why."""
    labels = _labels(spec)
    resources = {"cpu": spec.cpu, "memory": spec.memory}
    mounts = [{"name": "models", "mountPath": _MODELS, "readOnly": True}]
    mounts.append({"name": "trusted-keys", "mountPath": _TRUSTED, "readOnly": True})
    volumes: list[dict[str, Any]] = [
        {"name": "models", "emptyDir": {"sizeLimit": "2Gi"}},
        {"name": "trusted-keys", "configMap": {"name": target.trusted_keys_configmap}},
    ]
    if spec.manifest_uri is not None:
        mounts.append({"name": "manifest", "mountPath": _MANIFEST, "readOnly": True})
        volumes.append({"name": "manifest", "configMap": {"name": manifest_name_of(spec.key)}})
    probe = {"httpGet": {"path": "/v2/health/ready", "port": "http"}, "periodSeconds": 2}
    fetch = {
        "name": "fetch-model",
        "image": target.image,
        "command": ["covenant", "artifacts", "get", spec.artifact_digest],
        "args": ["--out", f"{_MODELS}/model.onnx"],
        "env": [{"name": "COVENANT_GATEWAY", "value": target.control_plane_url}],
        "volumeMounts": [{"name": "models", "mountPath": _MODELS}],
        "resources": {"requests": resources, "limits": resources},
        "securityContext": _SECURE,
    }
    server = {
        "name": "model-server",
        "image": target.image,
        "command": _server_args(spec, target),
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "readinessProbe": probe,
        "startupProbe": {**probe, "failureThreshold": 60},
        "livenessProbe": {"httpGet": {"path": "/v2/health/live", "port": "http"}},
        "resources": {"requests": resources, "limits": resources},
        "securityContext": _SECURE,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": mounts,
    }
    pod = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "nodeSelector": {"covenant.dev/node-pool": spec.node_pool},
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "initContainers": [fetch],
        "containers": [server],
        "volumes": volumes,
    }
    annotation = json.dumps(asdict(spec) | {"labels": dict(spec.labels)}, sort_keys=True)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(spec.key, target, labels, annotations={SPEC_ANNOTATION: annotation}),
        "spec": {
            "selector": {"matchLabels": {"covenant.dev/replica-set": spec.key}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {"metadata": {"labels": labels}, "spec": pod},
        },
    }


def spec_from_annotation(annotations: Mapping[str, str] | None) -> VersionSpec | None:
    """The spec a Deployment was made from; None when it was not made by us."""
    raw = (annotations or {}).get(SPEC_ANNOTATION)
    if raw is None:
        return None
    return VersionSpec(**json.loads(raw))


def service(spec: VersionSpec, target: KubeTarget) -> dict[str, Any]:
    """One stable name per version: what the route's backends and the mirror name."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(spec.key, target, _labels(spec)),
        "spec": {
            "selector": {"covenant.dev/replica-set": spec.key},
            "ports": [{"name": "http", "port": PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def hpa(spec: VersionSpec, target: KubeTarget) -> dict[str, Any]:
    """Scale by request rate per replica, never below Covenant's decided size."""
    floor = max(spec.replicas, 1)
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta(spec.key, target, _labels(spec)),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": spec.key},
            "minReplicas": floor,
            "maxReplicas": max(spec.max_replicas, floor),
            "metrics": [
                {
                    "type": "Pods",
                    "pods": {
                        "metric": {"name": target.rps_metric},
                        "target": {
                            "type": "AverageValue",
                            "averageValue": _quantity(spec.target_rps_per_replica),
                        },
                    },
                }
            ],
        },
    }


def _quantity(value: float) -> str:
    """A Kubernetes quantity: whole numbers plain, others in milli-units."""
    milli = round(value * 1000)
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"
