"""The ``kubernetes`` serving runtime: model versions as cluster objects.

Each call server-side applies (``application/apply-patch+yaml``, one field manager,
``fieldValidation=Strict``) the objects ``kube_manifests`` builds, so it is
idempotent by construction: the same spec applied twice leaves every object, and
its ``resourceVersion``, as it was, and a field the API server does not know is an
error rather than silently dropped. Status comes from a watch on the runtime's
Deployments (one list, then events), not a poll per tick. What the runtime may
touch is ``deploy/kubernetes/covenant/serving-rbac.yaml``: its namespace's
Deployments, Services, HPAs, ConfigMaps and HTTPRoutes, and reading Pods to report a
refused model.

Traffic goes through the cluster's Gateway API implementation, which must support
weighted backends and ``RequestMirror`` (standard channel); a sticky A/B split also
needs ``sessionPersistence``, which is in the experimental channel's CRDs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.exceptions import ApiException

from covenant.errors import CovenantError
from covenant.serving.runtimes import kube_manifests as km
from covenant.serving.runtimes import kube_routes
from covenant.serving.runtimes.protocol import RouteSpec, VersionSpec, VersionStatus

__all__ = ["ClusterError", "KubernetesRuntime"]

log = logging.getLogger(__name__)

_APPLY = {"field_manager": km.MANAGED_BY, "force": True, "field_validation": "Strict"}
_ROUTES = ("gateway.networking.k8s.io", "v1", "httproutes")
_REFUSED_EXIT = 78


class ClusterError(CovenantError):
    """The API server refused or failed a call; retriable when it may pass later."""


class KubernetesRuntime:
    """Model versions as Deployments, Services and HPAs; routes as HTTPRoutes."""

    name = "kubernetes"

    def __init__(self, api: client.ApiClient, target: km.KubeTarget | None = None) -> None:
        self.target = target or km.KubeTarget()
        self._api = api
        self._apps = client.AppsV1Api(api)
        self._core = client.CoreV1Api(api)
        self._autoscaling = client.AutoscalingV2Api(api)
        self._custom = client.CustomObjectsApi(api)
        self._seen: dict[str, dict[str, Any]] = {}  # key -> the Deployment as last seen
        self._watch: asyncio.Task[None] | None = None
        self._removed: set[str] = set()  # a late watch event must not bring these back

    @classmethod
    def connect(
        cls,
        host: str,
        token: str,
        *,
        ca_file: Path | None = None,
        target: km.KubeTarget | None = None,
    ) -> KubernetesRuntime:
        """A runtime talking to ``host`` with a bearer token (a service account's)."""
        config = client.Configuration(host=host)
        config.api_key = {"BearerToken": token}
        config.api_key_prefix = {"BearerToken": "Bearer"}
        if ca_file is not None:
            config.ssl_ca_cert = str(ca_file)
        return cls(client.ApiClient(config), target)

    async def apply(self, spec: VersionSpec) -> VersionStatus:
        ns = self.target.namespace
        if spec.manifest_uri is not None:
            envelope = _read_manifest(spec.manifest_uri)
            body = km.config_map(spec, self.target, envelope)
            name = body["metadata"]["name"]
            await _call(body, self._core.patch_namespaced_config_map, name, ns, body)
        return await self._apply_version(spec, ns)

    async def _apply_version(self, spec: VersionSpec, ns: str) -> VersionStatus:
        # the Service and HPA before the Deployment: a Deployment whose pods can start
        # before their autoscaler exists would run at the API server's default size
        svc, scaler = km.service(spec, self.target), km.hpa(spec, self.target)
        await _call(svc, self._core.patch_namespaced_service, svc["metadata"]["name"], ns, svc)
        await _call(
            scaler,
            self._autoscaling.patch_namespaced_horizontal_pod_autoscaler,
            scaler["metadata"]["name"],
            ns,
            scaler,
        )
        dep = km.deployment(spec, self.target)
        stored = await _call(
            dep, self._apps.patch_namespaced_deployment, dep["metadata"]["name"], ns, dep
        )
        self._removed.discard(spec.key)
        self._seen[spec.key] = self._api.sanitize_for_serialization(stored)
        self._start_watch()
        return await self._status(spec.key, self._seen[spec.key])

    async def scale(self, key: str, replicas: int) -> VersionStatus:
        deployment = await self._deployment(key)
        spec = km.spec_from_annotation(_annotations(deployment)) if deployment else None
        if spec is None:
            raise KeyError(f"no version {key!r} is applied in namespace {self.target.namespace}")
        return await self._apply_version(replace(spec, replicas=replicas), self.target.namespace)

    async def route(self, spec: RouteSpec) -> None:
        families: dict[str, str] = {}
        keys = [a.version_key for a in spec.arms]
        keys += [spec.shadow.version_key] if spec.shadow else []
        for key in keys:
            deployment = await self._deployment(key)
            applied = km.spec_from_annotation(_annotations(deployment)) if deployment else None
            if applied is not None:
                families[key] = applied.model_id.rpartition(":")[0] or applied.model_id
        body = kube_routes.http_route(spec, self.target, families)
        await _call(
            body,
            self._custom.patch_namespaced_custom_object,
            *_ROUTES[:2],
            self.target.namespace,
            _ROUTES[2],
            body["metadata"]["name"],
            body,
        )

    async def routes(self, route: str) -> RouteSpec | None:
        name = km.object_name(route)
        try:
            obj = await self._custom.get_namespaced_custom_object(
                _ROUTES[0], _ROUTES[1], self.target.namespace, _ROUTES[2], name
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise _error(exc, "HTTPRoute", name) from exc
        return kube_routes.route_from_object(obj)

    async def status(self, key: str) -> VersionStatus | None:
        deployment = await self._deployment(key)
        return None if deployment is None else await self._status(key, deployment)

    async def _status(self, key: str, deployment: dict[str, Any]) -> VersionStatus:
        spec = km.spec_from_annotation(_annotations(deployment))
        desired = spec.replicas if spec is not None else 0
        ready = int((deployment.get("status") or {}).get("readyReplicas") or 0)
        ns = self.target.namespace
        endpoints = (f"http://{key}.{ns}.svc:{km.PORT}",) if ready else ()
        message = await self._refusal(key) if ready < desired else ""
        return VersionStatus(key, desired, ready, endpoints, message)

    async def _refusal(self, key: str) -> str:
        """A replica's refusal as the local runtime words it, from the pod's
        termination message (the server's last stderr line, ``{"refused": …}``)."""
        try:
            pods = await self._core.list_namespaced_pod(
                self.target.namespace, label_selector=f"covenant.dev/replica-set={key}"
            )
        except ApiException as exc:
            log.warning("cannot read the pods of %s: %s", key, exc.reason)
            return ""
        for pod in pods.items:
            for container in (pod.status and pod.status.container_statuses) or []:
                message = refusal_message(container)
                if message:
                    return message
        return ""

    async def _deployment(self, key: str) -> dict[str, Any] | None:
        if key in self._seen and self._watch is not None and not self._watch.done():
            return self._seen[key]
        try:
            found = await self._apps.read_namespaced_deployment(key, self.target.namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise _error(exc, "Deployment", key) from exc
        obj: dict[str, Any] = self._api.sanitize_for_serialization(found)
        return obj

    def _start_watch(self) -> None:
        if self._watch is None or self._watch.done():
            self._watch = asyncio.get_running_loop().create_task(self._watch_deployments())

    async def _watch_deployments(self) -> None:
        """Keep ``_seen`` current from the API server's events; on a broken stream,
        list again and resume (a missed event is never assumed away)."""
        selector = f"app.kubernetes.io/managed-by={km.MANAGED_BY}"
        ns = self.target.namespace
        while True:
            try:
                listed = await self._apps.list_namespaced_deployment(ns, label_selector=selector)
                self._seen = {
                    d.metadata.name: self._api.sanitize_for_serialization(d)
                    for d in listed.items
                    if d.metadata.name not in self._removed
                }
                async with watch.Watch().stream(
                    self._apps.list_namespaced_deployment,
                    ns,
                    label_selector=selector,
                    resource_version=listed.metadata.resource_version,
                    timeout_seconds=300,
                ) as stream:
                    async for event in stream:
                        obj = self._api.sanitize_for_serialization(event["object"])
                        name = obj.get("metadata", {}).get("name")
                        if event["type"] == "DELETED" or name in self._removed:
                            self._seen.pop(name, None)
                        elif name:
                            self._seen[name] = obj
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("kubernetes runtime: deployment watch broke (%s); relisting", exc)
                await asyncio.sleep(1.0)

    async def remove(self, key: str) -> None:
        ns = self.target.namespace
        self._seen.pop(key, None)
        self._removed.add(key)
        await _gone(self._autoscaling.delete_namespaced_horizontal_pod_autoscaler(key, ns))
        await _gone(
            self._apps.delete_namespaced_deployment(key, ns, propagation_policy="Background")
        )
        await _gone(self._core.delete_namespaced_service(key, ns))
        await _gone(self._core.delete_namespaced_config_map(km.manifest_name_of(key), ns))

    async def remove_route(self, route: str) -> None:
        name = km.object_name(route)
        await _gone(
            self._custom.delete_namespaced_custom_object(
                _ROUTES[0], _ROUTES[1], self.target.namespace, _ROUTES[2], name
            )
        )

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._watch
        await self._api.close()


def refusal_message(container: Any) -> str:
    """``refused:<code>: <reason>`` when a container exited as a refused model."""
    for state in (container.state, container.last_state):
        terminated = state.terminated if state is not None else None
        if terminated is None or terminated.exit_code != _REFUSED_EXIT:
            continue
        for line in reversed((terminated.message or "").splitlines()):
            with contextlib.suppress(ValueError):
                data = json.loads(line)
                if isinstance(data, dict) and "refused" in data:
                    return f"refused:{data['refused']}: {data.get('reason', '')}"
        return f"refused:refused: {(terminated.message or 'no reason given').strip()[-300:]}"
    return ""


def _annotations(obj: dict[str, Any] | None) -> dict[str, str] | None:
    return ((obj or {}).get("metadata") or {}).get("annotations")


def _read_manifest(uri: str) -> str:
    path = Path(uri.removeprefix("file://"))
    try:
        return path.read_text()
    except OSError as exc:
        raise ClusterError(
            f"the manifest {uri} to put beside the model cannot be read ({exc}); "
            "the serving agent writes it before applying a signed version",
            retriable=True,
        ) from exc


async def _call(
    body: dict[str, Any], method: Callable[..., Awaitable[Any]], *args: Any, **kw: Any
) -> Any:
    kw = {**_APPLY, **kw}
    try:
        return await method(*args, _content_type="application/apply-patch+yaml", **kw)
    except ApiException as exc:
        raise _error(exc, body["kind"], body["metadata"]["name"]) from exc


def _error(exc: ApiException, kind: str, name: str) -> ClusterError:
    reason = exc.reason or ""
    with contextlib.suppress(ValueError, TypeError):
        reason = json.loads(exc.body or "{}").get("message", reason)
    hint = ""
    if "sessionPersistence" in reason:
        hint = (
            "; sticky routes need Gateway API's experimental-channel HTTPRoute CRD "
            "(deploy/kubernetes/apiserver/gateway-api.sh prints where it is)"
        )
    if exc.status in (401, 403):
        hint = "; the runtime's identity needs deploy/kubernetes/covenant/serving-rbac.yaml"
    retriable = exc.status in (409, 429) or (exc.status or 0) >= 500
    return ClusterError(f"{kind} {name}: {exc.status} {reason}{hint}", retriable=retriable)


async def _gone(call: Awaitable[Any]) -> None:
    try:
        await call
    except ApiException as exc:
        if exc.status != 404:
            raise ClusterError(f"delete: {exc.status} {exc.reason}", retriable=True) from exc
