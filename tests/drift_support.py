"""What drift tests share: a stored reference profile, the facts a drift worker decides
on (a trained, evaluated, deployed model), and served samples, shifted or not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from covenant.blobs import BlobStore
from covenant.drift.profile import build_profile
from covenant.drift.reference import OUTPUT_LABEL
from covenant.events.base import Message
from covenant.events.drift import ObserveLabel, ObserveSample
from covenant.testing import builders

FEATURES = ("f0", "f1", "f2", "f3")
CLASSES = ("a", "b")
MODEL = "vit:1.0.0"
DEPLOY = "deploy-1"
ROUTE = "vit"
JOB = "job-1"
T0 = datetime(2026, 12, 1, tzinfo=UTC)


def predict(row: np.ndarray) -> str:
    """The toy model: class ``b`` when the first feature is positive."""
    return "b" if row[0] > 0 else "a"


async def store_reference(blobs: BlobStore, rows: int = 20_000, seed: int = 1) -> str:
    """A reference profile of standard normal features and the toy model's answers."""
    rng = np.random.default_rng(seed)
    matrix = rng.standard_normal((rows, len(FEATURES)))
    labels = [predict(r) for r in matrix]
    profile = build_profile(
        {name: matrix[:, i] for i, name in enumerate(FEATURES)},
        {OUTPUT_LABEL: labels},
        metadata={"modelId": MODEL, "positiveLabel": "b"},
        rates={"accuracy": (int(rows * 0.9), rows)},
    )
    data = profile.to_bytes()

    async def source():  # type: ignore[no-untyped-def]
        yield data

    stored = await blobs.put(source=source(), media_type="application/json")
    return stored.artifact_id


def facts(profile_id: str) -> list[Message]:
    """A model trained by job-1 on d1 (with its chargeback), evaluated with the profile,
    and serving on route vit as deploy-1."""
    evaluated = builders.evaluation_completed("eval-1", model_id=MODEL)
    evaluated = evaluated.model_copy(update={"profile_artifact_id": profile_id})
    return [
        builders.dataset_registered("d1", created_at=T0 - timedelta(days=30)),
        builders.dataset_registered("d2", source_refs=["d1"], created_at=T0 - timedelta(days=1)),
        builders.training_queued(JOB, datasets=["d1"]),
        builders.chargeback_recorded(JOB, unit_hours="0.5"),
        builders.model_registered(MODEL, datasets=["d1"], provenance={"trainingJob": JOB}),
        evaluated,
        builders.deployment_recorded(builders.deployment_record(MODEL, deploy_id=DEPLOY)),
    ]


def samples(
    n: int, *, seed: int, shift: float = 0.0, start: int = 0, shifted: tuple[int, ...] = (1, 2)
) -> list[ObserveSample]:
    """``n`` served rows; ``shift`` standard deviations added to the ``shifted`` features."""
    rng = np.random.default_rng(seed)
    matrix = rng.standard_normal((n, len(FEATURES)))
    for column in shifted:
        matrix[:, column] += shift
    return [sample(row, start + i) for i, row in enumerate(matrix)]


def sample(row: np.ndarray | list[float], i: int) -> ObserveSample:
    values = [float(v) for v in row]
    return ObserveSample.create(
        subject=f"route:{ROUTE}",
        actor="covenant",
        producer="model-server",
        route=ROUTE,
        deploy_id=DEPLOY,
        model_id=MODEL,
        request_id=f"req-{i}#0",
        features=values,
        prediction=predict(np.array(values)) if values else None,
        observed_at=T0 + timedelta(milliseconds=i),
    )


def label(i: int, value: str) -> ObserveLabel:
    return ObserveLabel.create(
        subject=f"route:{ROUTE}",
        actor="labeller",
        producer="gateway",
        route=ROUTE,
        request_id=f"req-{i}#0",
        label=value,
    )


def env(home: Path, blobs: Path, rows: int) -> dict[str, str]:
    """Settings for a drift worker process: small windows, a quick calibration."""
    return {
        "COVENANT_HOME": str(home),
        "COVENANT_BLOBS": f"file://{blobs}",
        "COVENANT_DRIFT_WINDOW_ROWS": str(rows),
        "COVENANT_DRIFT_RESAMPLES": "500",
    }
