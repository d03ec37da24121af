"""The CSV test-set format: which columns are features, and the files it refuses."""

from __future__ import annotations

import pytest

from covenant.evaluation.errors import EvaluationError
from covenant.evaluation.testsets import concatenate, read_test_set

GOOD = b"x1,label,group,row,x2\n0.5,1,a,7,2\n1.5,0,b,8,3\n"


def test_features_are_every_other_column_in_file_order() -> None:
    data = read_test_set(
        GOOD, label_column="label", sensitive_attribute="group", ignore_columns=["row"]
    )
    assert data.feature_names == ["x1", "x2"]
    assert data.features.tolist() == [[0.5, 2.0], [1.5, 3.0]]
    assert (data.labels, data.groups) == (["1", "0"], ["a", "b"])
    both = concatenate([data, data])
    assert (len(both.labels), both.groups) == (4, ["a", "b", "a", "b"])


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"x,y\n1,2\n", "no column 'label'"),
        (b"x,label\n", "no rows"),
        (b"x,label\nabc,1\n", "not a number"),
        (b"x,label\n1,2,3\n", "line 2 has 3 fields"),
        (b"\xff\xfe", "not UTF-8"),
        (b"label\n1\n", "no feature columns"),
    ],
)
def test_a_file_that_cannot_be_read_is_refused_by_name(data: bytes, problem: str) -> None:
    with pytest.raises(EvaluationError, match=problem):
        read_test_set(data, label_column="label", sensitive_attribute=None)


def test_a_missing_sensitive_attribute_names_the_field() -> None:
    with pytest.raises(EvaluationError) as refused:
        read_test_set(GOOD, label_column="label", sensitive_attribute="age")
    assert refused.value.field == "metrics.sensitiveAttribute"
