"""Covenant's serving router: weighted canary, sticky A/B and sampled shadow traffic
over Open Inference Protocol model servers, with retries and per-arm samples."""

from __future__ import annotations

from covenant.dataplane.router.proxy import LABEL_PARAMETER, Router
from covenant.dataplane.router.samples import ArmSamples, ShadowSamples
from covenant.dataplane.router.table import (
    RouterArm,
    RouterShadow,
    RouterTable,
    choose_arm,
    should_shadow,
    sticky_point,
)

__all__ = [
    "LABEL_PARAMETER",
    "ArmSamples",
    "Router",
    "RouterArm",
    "RouterShadow",
    "RouterTable",
    "ShadowSamples",
    "choose_arm",
    "should_shadow",
    "sticky_point",
]
