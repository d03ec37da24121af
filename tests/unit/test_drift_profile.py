"""Reference profiles: exact where promised, mergeable, the same bytes for the same data."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from datasketches import kll_doubles_sketch

from covenant.drift.errors import ProfileError
from covenant.drift.profile import (
    CategoricalProfile,
    NumericProfile,
    Profile,
    build_profile,
)
from covenant.drift.reference import evaluation_profile


def _data(seed: int, rows: int) -> tuple[dict[str, np.ndarray], dict[str, list[object]]]:
    rng = np.random.default_rng(seed)
    numeric = {"age": rng.normal(40, 9, rows), "income": rng.lognormal(10, 1, rows)}
    numeric["age"][::97] = np.nan
    categorical: dict[str, list[object]] = {
        "region": [str(r) for r in rng.choice(["eu", "us", "apac"], rows)],
        "output:class": [int(c) for c in rng.integers(0, 3, rows)],
    }
    return numeric, categorical


def test_moments_are_exact_and_missing_values_counted_apart() -> None:
    numeric, categorical = _data(1, 5000)
    profile = build_profile(numeric, categorical)
    age = profile.columns["age"]
    assert isinstance(age, NumericProfile)
    finite = numeric["age"][np.isfinite(numeric["age"])]
    assert age.moments.count == finite.size
    assert age.moments.missing == numeric["age"].size - finite.size
    assert age.moments.mean == pytest.approx(finite.mean(), rel=1e-12)
    assert age.moments.std == pytest.approx(finite.std(), rel=1e-12)
    assert age.sketch.n == finite.size
    assert profile.features == ["age", "income", "region"]
    assert profile.outputs == ["output:class"]


def test_merged_shards_equal_the_whole() -> None:
    numeric, categorical = _data(2, 300_000)
    whole = build_profile(numeric, categorical)
    cut = [0, 70_000, 190_000, 300_000]
    shards = [
        build_profile(
            {k: v[a:b] for k, v in numeric.items()},
            {k: v[a:b] for k, v in categorical.items()},
        )
        for a, b in itertools.pairwise(cut)
    ]
    merged = shards[0].merge(shards[1]).merge(shards[2])
    assert merged.rows == whole.rows
    for name in ("age", "income"):
        mine, theirs = merged.columns[name], whole.columns[name]
        assert isinstance(mine, NumericProfile)
        assert isinstance(theirs, NumericProfile)
        assert mine.moments.count == theirs.moments.count
        assert mine.moments.mean == pytest.approx(theirs.moments.mean, rel=1e-12)
        assert mine.moments.m2 == pytest.approx(theirs.moments.m2, rel=1e-9)
        assert mine.moments.minimum == theirs.moments.minimum
        # A merged sketch keeps the same guarantee: its median within the rank error.
        finite = np.sort(numeric[name][np.isfinite(numeric[name])])
        rank = np.searchsorted(finite, mine.sketch.get_quantile(0.5)) / finite.size
        assert abs(rank - 0.5) <= mine.rank_error
    region = merged.columns["region"]
    assert isinstance(region, CategoricalProfile)
    assert region.counts == whole.columns["region"].counts  # type: ignore[union-attr]


def test_the_document_round_trips_byte_for_byte() -> None:
    numeric, categorical = _data(3, 20_000)
    profile = build_profile(numeric, categorical, metadata={"modelId": "digits"})
    restored = Profile.from_bytes(profile.to_bytes())
    assert restored.to_bytes() == profile.to_bytes()
    assert restored.digest() == profile.digest()
    assert restored.metadata == {"modelId": "digits"}
    # Rebuilding is not bit-identical (KLL compacts at random offsets), only within the
    # rank error: the reason a profile is stored and referenced by digest.
    again = build_profile(numeric, categorical).columns["income"]
    first = profile.columns["income"]
    assert isinstance(again, NumericProfile)
    assert isinstance(first, NumericProfile)
    finite = np.sort(numeric["income"])
    for q in (0.01, 0.25, 0.5, 0.75, 0.99):
        for sketch in (first.sketch, again.sketch):
            rank = np.searchsorted(finite, sketch.get_quantile(q)) / finite.size
            assert abs(rank - q) <= first.rank_error


def test_the_sketch_is_the_standard_datasketches_format() -> None:
    import base64
    import json

    numeric, _ = _data(4, 50_000)
    document = json.loads(build_profile(numeric).to_bytes())
    income = next(c for c in document["columns"] if c["name"] == "income")
    sketch = kll_doubles_sketch.deserialize(base64.b64decode(income["kll"]))
    assert sketch.n == 50_000
    assert sketch.get_min_value() == pytest.approx(numeric["income"].min())


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xff\x00", "JSON"),
        (b"[1, 2]", "covenant.drift.profile/v1"),
        (b'{"schema": "covenant.drift.profile/v1", "rows": 1}', "malformed"),
        (
            b'{"schema": "covenant.drift.profile/v1", "rows": 1, "columns": '
            b'[{"name": "a", "kind": "numeric", "kll": "AAAA"}]}',
            "malformed",
        ),
    ],
)
def test_a_bad_document_is_refused_by_name(data: bytes, message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        Profile.from_bytes(data)


def test_bad_columns_are_refused_by_name() -> None:
    with pytest.raises(ProfileError, match="differ in length"):
        build_profile({"a": [1.0, 2.0], "b": [1.0]})
    with pytest.raises(ProfileError, match="'a' is not numeric"):
        build_profile({"a": ["x", "y"]})
    with pytest.raises(ProfileError, match="both numeric and categorical"):
        build_profile({"a": [1.0]}, {"a": ["x"]})
    one = build_profile({"a": [1.0]})
    with pytest.raises(ProfileError, match="different columns"):
        one.merge(build_profile({"b": [1.0]}))
    with pytest.raises(ProfileError, match="numeric in one profile"):
        one.merge(build_profile({}, {"a": ["x"]}))
    with pytest.raises(ProfileError, match="k=2000 and k=200"):
        one.merge(build_profile({"a": [2.0]}, k=200))


def test_rates_merge_by_summing_and_round_trip() -> None:
    one = build_profile({"a": [1.0, 2.0]}, rates={"accuracy": (9, 10)})
    two = build_profile({"a": [3.0]}, rates={"accuracy": (1, 5), "positive:g=x": (2, 4)})
    merged = one.merge(two)
    assert merged.rates == {"accuracy": (10, 15), "positive:g=x": (2, 4)}
    assert Profile.from_bytes(merged.to_bytes()).rates == merged.rates
    with pytest.raises(ProfileError, match="rate 'accuracy': 5 hits of 4 trials"):
        build_profile({"a": [1.0]}, rates={"accuracy": (5, 4)})


def test_an_evaluation_profile_keeps_features_outputs_and_rates() -> None:
    features = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0], [3.0, 1.0]])
    profile = evaluation_profile(
        features=features,
        feature_names=["x", "y"],
        predicted=["1", "0", "1", "1"],
        truth=["1", "0", "0", "1"],
        positive="1",
        attribute="sex",
        groups=["f", "m", "f", "m"],
    )
    assert profile.features == ["x", "y"]
    assert profile.rates == {
        "accuracy": (3, 4),
        "positive:sex=f": (2, 2),
        "positive:sex=m": (1, 2),
    }
    label = profile.columns["output:label"]
    assert isinstance(label, CategoricalProfile)
    assert label.counts == {"0": 1, "1": 3}
    with pytest.raises(ValueError, match="for 3 names"):
        evaluation_profile(
            features=features, feature_names=["x", "y", "z"], predicted=[], truth=[], positive="1"
        )
