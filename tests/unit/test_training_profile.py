"""The training run's drift reference profile: the helper that builds it, and the SDK
call an entrypoint writes it with, as one more output of the run."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from covenant.drift.profile import CategoricalProfile, NumericProfile, Profile
from covenant.drift.reference import OUTPUT_LABEL, evaluation_profile, training_profile
from covenant.evaluation.worker import PROFILE_MEDIA_TYPE as EVALUATION_PROFILE_MEDIA_TYPE
from covenant.training import TrainingContext
from covenant.training.sdk import PROFILE_MEDIA_TYPE, PROFILE_OUTPUT

NAMES = ["height", "weight", "age"]


def _rows(rows: int = 50, seed: int = 3) -> tuple[np.ndarray, list[int], list[int]]:
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(rows, len(NAMES)))
    truth = [int(v) for v in rng.integers(0, 3, rows)]
    predicted = [t if i % 5 else (t + 1) % 3 for i, t in enumerate(truth)]  # 1 in 5 wrong
    return features, predicted, truth


def test_a_training_profile_keeps_each_feature_the_predicted_labels_and_the_accuracy() -> None:
    features, predicted, truth = _rows()
    profile = training_profile(
        features=features,
        feature_names=NAMES,
        predicted=predicted,
        truth=truth,
        metadata={"source": "training"},
    )
    assert profile.features == NAMES
    assert profile.outputs == [OUTPUT_LABEL]
    assert profile.rows == 50
    assert profile.rates == {"accuracy": (40, 50)}
    assert profile.metadata == {"source": "training"}
    height = profile.columns["height"]
    assert isinstance(height, NumericProfile)
    assert height.moments.count == 50
    assert height.moments.mean == pytest.approx(float(features[:, 0].mean()), rel=1e-12)
    labels = profile.columns[OUTPUT_LABEL]
    assert isinstance(labels, CategoricalProfile)
    assert labels.counts == {str(k): predicted.count(k) for k in set(predicted)}


def test_it_has_the_columns_of_an_evaluation_profile_of_the_same_rows() -> None:
    features, predicted, truth = _rows()
    trained = training_profile(features=features, feature_names=NAMES, predicted=predicted)
    evaluated = evaluation_profile(
        features=features,
        feature_names=NAMES,
        predicted=[str(p) for p in predicted],
        truth=[str(t) for t in truth],
        positive="1",
    )
    assert list(trained.columns) == list(evaluated.columns)
    assert trained.rates == {}  # no truth given: no accuracy
    merged = trained.merge(evaluated)  # the same columns and kinds, so they fold together
    assert merged.rows == 100


def test_the_same_rows_give_the_same_bytes_while_the_sketches_are_exact() -> None:
    features, predicted, truth = _rows(rows=500)
    first, second = (
        training_profile(features=features, feature_names=NAMES, predicted=predicted, truth=truth)
        for _ in range(2)
    )
    assert first.to_bytes() == second.to_bytes()
    assert Profile.from_bytes(first.to_bytes()).to_bytes() == first.to_bytes()


@pytest.mark.parametrize(
    ("names", "predicted", "truth", "match"),
    [
        (NAMES[:2], 50, None, "for 2 names"),
        (["a", "a", "b"], 50, None, "repeat"),
        (NAMES, 49, None, "predictions"),
        (NAMES, 50, 49, "truth"),
    ],
)
def test_rows_that_do_not_agree_are_refused(
    names: list[str], predicted: int, truth: int | None, match: str
) -> None:
    features, labels, true = _rows()
    with pytest.raises(ValueError, match=match):
        training_profile(
            features=features,
            feature_names=names,
            predicted=labels[:predicted],
            truth=None if truth is None else true[:truth],
        )


def _context(tmp_path: Path) -> TrainingContext:
    def store(data: bytes) -> str:
        return f"sha256:{hashlib.sha256(data).hexdigest()}"

    return TrainingContext(
        datasets={},
        hyperparams={},
        seed=7,
        output_dir=tmp_path,
        store=store,
        emit=lambda progress: None,
    )


def test_record_profile_writes_the_profile_as_an_output_of_the_run(tmp_path: Path) -> None:
    features, predicted, truth = _rows()
    path = _context(tmp_path).record_profile(
        features=features,
        feature_names=NAMES,
        predicted=predicted,
        truth=truth,
        metadata={"model": "m", "source": "forged"},
    )
    assert path == tmp_path / PROFILE_OUTPUT == tmp_path / "drift-profile.json"
    profile = Profile.from_bytes(path.read_bytes())
    assert (profile.features, profile.rows) == (NAMES, 50)
    assert profile.rates == {"accuracy": (40, 50)}
    assert profile.metadata == {"model": "m", "source": "training"}


def test_a_second_record_profile_replaces_the_first(tmp_path: Path) -> None:
    context = _context(tmp_path)
    features, predicted, _ = _rows()
    context.record_profile(features=features, feature_names=NAMES, predicted=predicted)
    context.record_profile(features=features[:10], feature_names=NAMES, predicted=predicted[:10])
    assert Profile.from_bytes((tmp_path / PROFILE_OUTPUT).read_bytes()).rows == 10
    assert [p.name for p in tmp_path.iterdir()] == [PROFILE_OUTPUT]


def test_training_and_evaluation_profiles_share_one_media_type() -> None:
    assert PROFILE_MEDIA_TYPE == EVALUATION_PROFILE_MEDIA_TYPE
