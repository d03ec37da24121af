"""What a launcher reports is checked before the runner acts on it: an entrypoint
can print a ``completed`` line itself."""

from __future__ import annotations

from typing import Any

import pytest

from covenant.training._reports import completed_shape, literal, run_record_of

SHA = "sha256:" + "a" * 64


def test_a_well_formed_completed_line_gives_outputs_and_metrics() -> None:
    shape = completed_shape({"outputs": {"model.onnx": SHA}, "metrics": {"accuracy": 1}})
    assert shape == ({"model.onnx": SHA}, {"accuracy": 1.0})


@pytest.mark.parametrize(
    "data",
    [
        {"outputs": ["model.onnx"]},
        {"outputs": {"model.onnx": 7}},
        {"metrics": {"accuracy": "high"}},
        {"metrics": {"accuracy": float("nan")}},
        {"metrics": [1, 2]},
    ],
)
def test_a_forged_or_broken_completed_line_is_named_not_trusted(data: dict[str, Any]) -> None:
    assert isinstance(completed_shape(data), str)


def test_a_partial_run_record_is_no_record() -> None:
    assert run_record_of({"record": {"code": {"repo": "x"}}}) is None
    assert run_record_of({}) is None


def test_hyperparameters_are_recorded_as_canonical_json_literals() -> None:
    assert literal(0.010) == "0.01"
    assert literal({"b": 1, "a": 2}) == '{"a":2,"b":1}'
