"""The router's split as numbers: weights, sticky A/B within ±2 % over 10,000 keys and
one key always one arm, shadow sampling, table validation, and the samples' rules."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from covenant.dataplane.router import RouterArm, RouterShadow, RouterTable, choose_arm
from covenant.dataplane.router.samples import CAP, ArmSamples, correct, outputs_differ
from covenant.dataplane.router.table import should_shadow


def table(a: int, *, sticky: str | None = None, shadow: float | None = None) -> RouterTable:
    return RouterTable(
        route="digits",
        arms=(
            RouterArm("a", a, ("http://x:1",), "digits", "1.0.0"),
            RouterArm("b", 100 - a, ("http://x:2",), "digits", "1.1.0"),
        ),
        shadow=RouterShadow(("http://x:3",), "digits", "2.0.0", shadow) if shadow else None,
        sticky_key=sticky,
    )


@pytest.mark.parametrize("a", [50, 90])
def test_sticky_keys_split_within_two_percent_and_never_move(a: int) -> None:
    t = table(a, sticky="x-user")
    arms = Counter(choose_arm(t, sticky_value=f"user-{i}", draw=0.0).name for i in range(10_000))
    assert abs(arms["a"] / 10_000 - a / 100) <= 0.02
    rng = random.Random(3)
    for i in range(200):
        first = choose_arm(t, sticky_value=f"user-{i}", draw=rng.random())
        again = choose_arm(t, sticky_value=f"user-{i}", draw=rng.random())
        assert first == again  # the draw does not matter once a key is given


def test_weighted_draws_follow_the_weights_and_zero_weight_never_wins() -> None:
    rng = random.Random(1)
    t = table(95)
    arms = Counter(choose_arm(t, sticky_value=None, draw=rng.random()).name for _ in range(20_000))
    assert abs(arms["b"] / 20_000 - 0.05) < 0.01
    only = table(100)
    assert {choose_arm(only, sticky_value=None, draw=d / 100).name for d in range(100)} == {"a"}


def test_shadow_is_sampled_at_its_rate() -> None:
    rng = random.Random(2)
    t = table(100, shadow=0.1)
    share = sum(should_shadow(t, draw=rng.random()) for _ in range(20_000)) / 20_000
    assert abs(share - 0.1) < 0.01
    assert not should_shadow(table(100), draw=0.0)


@pytest.mark.parametrize(
    ("build", "fragment"),
    [
        (lambda: table(101), "weight"),
        (lambda: RouterTable("r", (RouterArm("a", 60, ("u",), "m", "1"),)), "sum to 60"),
        (lambda: RouterTable("r", (RouterArm("a", 100, (), "m", "1"),)), "no endpoint"),
        (lambda: table(50, shadow=1.5), "sample_rate"),
    ],
)
def test_a_bad_table_is_refused_naming_what_is_wrong(build: object, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        build()  # type: ignore[operator]


def test_samples_are_capped_and_accuracy_reads_labels_and_argmax() -> None:
    s = ArmSamples()
    for i in range(CAP + 10):
        s.add(float(i), failed=False)
    assert len(s.latency_ms) == CAP
    assert s.latency_ms[0] == 10.0
    label: list[dict[str, object]] = [{"name": "label", "shape": [2], "data": [3, 4]}]
    assert correct(label, [3, 5]) == [True, False]
    scores: list[dict[str, object]] = [{"name": "p", "shape": [1, 3], "data": [[0.1, 0.7, 0.2]]}]
    assert correct(scores, [1]) == [True]
    same: list[dict[str, object]] = [{"name": "label", "shape": [2], "data": [3, 4]}]
    other: list[dict[str, object]] = [{"name": "label", "shape": [2], "data": [3, 5]}]
    assert not outputs_differ(label, same)
    assert outputs_differ(label, other)
