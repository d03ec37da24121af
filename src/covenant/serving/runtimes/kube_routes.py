"""A route's traffic split as a Gateway API ``HTTPRoute`` (no I/O).

One rule per route: a path prefix on the route's name, one weighted backend per arm
(the version's Service), a ``RequestMirror`` filter for sampled shadow traffic (a
``fraction``, so a 12.5 % sample is not rounded to 12 %), and ``sessionPersistence``
on a header for sticky A/B. A backend whose model family is not the route's name
gets a ``URLRewrite`` to the path its server answers under. Arm names are not a
Gateway API concept, so the route keeps them in its ``covenant.dev/arms``
annotation; weights, the mirror and the stickiness are read back from the spec the
API server stores.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from covenant.serving.runtimes.kube_manifests import MANAGED_BY, PORT, KubeTarget, meta, object_name
from covenant.serving.runtimes.protocol import Arm, RouteSpec, ShadowSpec

__all__ = ["ARMS_ANNOTATION", "http_route", "route_from_object"]

ARMS_ANNOTATION = "covenant.dev/arms"


def http_route(spec: RouteSpec, target: KubeTarget, families: Mapping[str, str]) -> dict[str, Any]:
    """The split as an HTTPRoute; ``families`` maps a version key to its model family,
    which the server answers under (a path rewrite where it differs from the route)."""
    prefix = f"/v2/models/{spec.route}"

    def backend(key: str, weight: int | None) -> dict[str, Any]:
        ref: dict[str, Any] = {"name": key, "port": PORT}
        if weight is not None:
            ref["weight"] = weight
        family = families.get(key, spec.route)
        if family != spec.route:
            rewrite = {"type": "ReplacePrefixMatch", "replacePrefixMatch": f"/v2/models/{family}"}
            ref["filters"] = [{"type": "URLRewrite", "urlRewrite": {"path": rewrite}}]
        return ref

    rule: dict[str, Any] = {
        "matches": [{"path": {"type": "PathPrefix", "value": prefix}}],
        "backendRefs": [backend(a.version_key, a.weight) for a in spec.arms],
    }
    if spec.shadow is not None:
        mirror = {k: v for k, v in backend(spec.shadow.version_key, None).items() if k != "filters"}
        rule["filters"] = [
            {
                "type": "RequestMirror",
                "requestMirror": {
                    "backendRef": mirror,
                    "fraction": {"numerator": round(spec.shadow.sample_rate * 10_000),
                                 "denominator": 10_000},
                },
            }
        ]  # fmt: skip
    if spec.sticky_key is not None:
        rule["sessionPersistence"] = {"type": "Header", "sessionName": spec.sticky_key}
    parent: dict[str, Any] = {"name": target.gateway}
    if target.gateway_namespace is not None:
        parent["namespace"] = target.gateway_namespace
    arms = [{"name": a.name, "versionKey": a.version_key} for a in spec.arms]
    annotations = {ARMS_ANNOTATION: json.dumps({"route": spec.route, "arms": arms})}
    labels = {
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "covenant.dev/route": object_name(spec.route),
    }
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": meta(object_name(spec.route), target, labels, annotations=annotations),
        "spec": {"parentRefs": [parent], "rules": [rule]},
    }


def route_from_object(obj: Mapping[str, Any]) -> RouteSpec | None:
    """The split an HTTPRoute holds, as the API server stores it; None when it was
    not written by Covenant."""
    raw = (obj.get("metadata", {}).get("annotations") or {}).get(ARMS_ANNOTATION)
    if raw is None:
        return None
    written = json.loads(raw)
    names = {a["versionKey"]: a["name"] for a in written["arms"]}
    rule = obj["spec"]["rules"][0]
    arms = tuple(
        Arm(name=names.get(ref["name"], ref["name"]), version_key=ref["name"],
            weight=int(ref.get("weight", 1)))
        for ref in rule.get("backendRefs", [])
    )  # fmt: skip
    shadow = None
    for item in rule.get("filters", []):
        if item.get("type") == "RequestMirror":
            mirror = item["requestMirror"]
            fraction = mirror.get("fraction")
            rate = (
                fraction["numerator"] / fraction.get("denominator", 100)
                if fraction is not None
                else mirror.get("percent", 100) / 100
            )
            shadow = ShadowSpec(version_key=mirror["backendRef"]["name"], sample_rate=rate)
    persistence = rule.get("sessionPersistence")
    sticky = persistence.get("sessionName") if persistence else None
    return RouteSpec(route=written["route"], arms=arms, shadow=shadow, sticky_key=sticky)
