"""Drift: reference profiles kept from training, windows of serving data scored against them.

Pure parts: ``profile`` (KLL sketches and exact moments per numeric column, frequencies
per categorical one; mergeable, canonical JSON), ``statistics`` (KS, Wasserstein, PSI,
Jensen-Shannon, chi-squared between a weighted reference and a window),
``calibration`` (thresholds at a stated false-alarm rate per window, by resampling the
reference, Bonferroni across columns), ``scoring`` (one window's scores and verdict)
``outcomes`` (performance and fairness drift, as rates against the reference's) and
``windows`` (samples checked against the profile, cut into numbered windows).
"""

from __future__ import annotations

import importlib
from typing import Any

# Lazy, so that the gateway can read drift's history (pure, no numpy) without
# importing the statistics behind these names.
_HOME = {
    "Calibration": "calibration",
    "calibrate": "calibration",
    "DriftError": "errors",
    "ProfileError": "errors",
    "SampleError": "errors",
    "Profile": "profile",
    "build_profile": "profile",
    "WindowScore": "scoring",
    "score_window": "scoring",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'covenant.drift' has no attribute {name!r}")
    return getattr(importlib.import_module(f"covenant.drift.{_HOME[name]}"), name)


__all__ = [
    "Calibration",
    "DriftError",
    "Profile",
    "ProfileError",
    "SampleError",
    "WindowScore",
    "build_profile",
    "calibrate",
    "score_window",
]
