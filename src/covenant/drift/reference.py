"""The reference profile of an evaluation: the test set's features and the model's outputs.

An evaluation has everything a drift reference needs at once: the rows the model was
judged on, what it answered, the truth and, when asked, a sensitive attribute. So the
evaluation worker profiles them beside its report, and drift later compares serving
windows with the data the model was *approved* on, not with whatever came before.

Columns: each feature by its name (numeric), and ``output:label``, the predicted class
(categorical). Rates: ``accuracy``, and per group of the attribute the share predicted
``positive`` (the class fairness figures use), for fairness drift.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from covenant.drift.profile import OUTPUT_PREFIX, Profile, build_profile

OUTPUT_LABEL = OUTPUT_PREFIX + "label"


def positive_rate_name(attribute: str, group: str) -> str:
    return f"positive:{attribute}={group}"


def evaluation_profile(
    *,
    features: np.ndarray,
    feature_names: Sequence[str],
    predicted: Sequence[str],
    truth: Sequence[str],
    positive: str,
    attribute: str | None = None,
    groups: Sequence[str] | None = None,
    metadata: Mapping[str, str] | None = None,
) -> Profile:
    """Profile an evaluation's rows; ``features`` is (rows, len(feature_names))."""
    matrix = np.asarray(features, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[1] != len(feature_names):
        raise ValueError(f"features are {matrix.shape}, for {len(feature_names)} names")
    if not len(predicted) == len(truth) == matrix.shape[0]:
        raise ValueError("features, predictions and truth differ in length")
    correct = sum(p == t for p, t in zip(predicted, truth, strict=True))
    rates: dict[str, tuple[int, int]] = {"accuracy": (correct, len(truth))}
    if attribute is not None and groups is not None:
        for group in sorted(set(groups)):
            rows = [p for p, g in zip(predicted, groups, strict=True) if g == group]
            hits = sum(p == positive for p in rows)
            rates[positive_rate_name(attribute, group)] = (hits, len(rows))
    numeric = {name: matrix[:, i] for i, name in enumerate(feature_names)}
    return build_profile(numeric, {OUTPUT_LABEL: list(predicted)}, metadata=metadata, rates=rates)


def training_profile(
    *,
    features: np.ndarray,
    feature_names: Sequence[str],
    predicted: Sequence[object],
    truth: Sequence[object] | None = None,
    metadata: Mapping[str, str] | None = None,
) -> Profile:
    """Profile a training run's rows and its model's outputs on them.

    The columns are an evaluation's (each feature by name, ``output:label``), so a
    training profile and an evaluation profile of the same model compare column for
    column. With ``truth`` the profile keeps the ``accuracy`` rate (labels compared as
    text, as the label column counts them); there are no fairness rates, since a
    training run names no sensitive attribute.
    """
    matrix = np.asarray(features, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[1] != len(feature_names):
        raise ValueError(f"features are {matrix.shape}, for {len(feature_names)} names")
    if len(set(feature_names)) != len(feature_names):
        raise ValueError(f"feature names repeat: {list(feature_names)}")
    if len(predicted) != matrix.shape[0]:
        raise ValueError(f"{matrix.shape[0]} rows of features but {len(predicted)} predictions")
    rates: dict[str, tuple[int, int]] = {}
    if truth is not None:
        if len(truth) != len(predicted):
            raise ValueError(f"{len(predicted)} predictions but {len(truth)} truth labels")
        correct = sum(str(p) == str(t) for p, t in zip(predicted, truth, strict=True))
        rates["accuracy"] = (correct, len(truth))
    numeric = {name: matrix[:, i] for i, name in enumerate(feature_names)}
    return build_profile(numeric, {OUTPUT_LABEL: list(predicted)}, metadata=metadata, rates=rates)
