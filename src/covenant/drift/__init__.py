"""Drift: reference profiles kept from training, windows of serving data scored against them.

Pure parts: ``profile`` (KLL sketches and exact moments per numeric column, frequencies
per categorical one; mergeable, canonical JSON), ``statistics`` (KS, Wasserstein, PSI,
Jensen-Shannon, chi-squared between a weighted reference and a window),
``calibration`` (thresholds at a stated false-alarm rate per window, by resampling the
reference, Bonferroni across columns), ``scoring`` (one window's scores and verdict)
``outcomes`` (performance and fairness drift, as rates against the reference's) and
``windows`` (samples checked against the profile, cut into numbered windows).
"""

from covenant.drift.calibration import Calibration, calibrate
from covenant.drift.errors import DriftError, ProfileError, SampleError
from covenant.drift.profile import Profile, build_profile
from covenant.drift.scoring import WindowScore, score_window

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
