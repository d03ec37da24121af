"""Where model-server replicas run: the port and its adapters."""

from __future__ import annotations

from covenant.serving.runtimes.protocol import (
    Arm,
    RouteSpec,
    ServingRuntime,
    ShadowSpec,
    VersionSpec,
    VersionStatus,
)

__all__ = [
    "Arm",
    "RouteSpec",
    "ServingRuntime",
    "ShadowSpec",
    "VersionSpec",
    "VersionStatus",
]
