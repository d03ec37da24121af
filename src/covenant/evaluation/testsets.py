"""The test-set format: one CSV file per test-set dataset.

A test set is a registered dataset whose bytes are UTF-8 CSV with a header row:

* the label column (``MetricsConfig.label_column``, default ``label``): the truth,
  read as text, so ``3`` and ``"3"`` are the same class;
* the sensitive-attribute column, when the command names one: the group of each
  row, read as text; it is never fed to the model;
* the columns in ``MetricsConfig.ignore_columns`` (row ids, or a group column not
  evaluated this time) are skipped;
* every other column is a feature, numeric, given to the model in file order.

CSV because it is the format the training examples already register (examples/
digits), a person can read it, and one byte changed shows in its checksum. Several
test sets in one command are concatenated in the order given; they must have the
same header.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from covenant.evaluation.errors import EvaluationError


@dataclass(frozen=True)
class TestSet:
    """Features, truth and groups of one or more test-set files.

    Attributes:
        features: (rows, features) as float32, what the model is given.
        feature_names: the feature columns, in order.
        labels: the truth of each row.
        groups: the sensitive attribute of each row, when one was asked for.
    """

    __test__ = False  # not a pytest class

    features: NDArray[np.float32]
    feature_names: list[str]
    labels: list[str]
    groups: list[str] | None


def read_test_set(
    data: bytes,
    *,
    label_column: str,
    sensitive_attribute: str | None,
    ignore_columns: Sequence[str] = (),
) -> TestSet:
    """Parse one test-set file.

    Raises:
        EvaluationError: not UTF-8 CSV, a named column missing, a non-numeric feature,
            ragged rows or no rows.
    """
    try:
        rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise EvaluationError(f"the test set is not UTF-8 CSV: {exc}") from exc
    if len(rows) < 2:
        raise EvaluationError("the test set has no rows under its header")
    header, body = rows[0], [r for r in rows[1:] if r]
    for column, field in ((label_column, "metrics.labelColumn"),):
        if column not in header:
            raise EvaluationError(f"the test set has no column {column!r}", field=field)
    if sensitive_attribute is not None and sensitive_attribute not in header:
        raise EvaluationError(
            f"the test set has no column {sensitive_attribute!r}",
            field="metrics.sensitiveAttribute",
        )
    label_at = header.index(label_column)
    group_at = header.index(sensitive_attribute) if sensitive_attribute else None
    skipped = {label_at, group_at} | {i for i, name in enumerate(header) if name in ignore_columns}
    feature_at = [i for i in range(len(header)) if i not in skipped]
    if not feature_at:
        raise EvaluationError("the test set has no feature columns")
    for n, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise EvaluationError(
                f"test set line {n} has {len(row)} fields, expected {len(header)}"
            )
    try:
        features = np.asarray([[float(r[i]) for i in feature_at] for r in body], dtype=np.float32)
    except ValueError as exc:
        raise EvaluationError(f"a feature of the test set is not a number: {exc}") from exc
    return TestSet(
        features=features,
        feature_names=[header[i] for i in feature_at],
        labels=[r[label_at].strip() for r in body],
        groups=[r[group_at].strip() for r in body] if group_at is not None else None,
    )


def concatenate(sets: Sequence[TestSet]) -> TestSet:
    """One test set of ``sets`` in order.

    Raises:
        EvaluationError: their feature columns differ.
    """
    first = sets[0]
    for other in sets[1:]:
        if other.feature_names != first.feature_names:
            raise EvaluationError("the test sets have different feature columns")
    groups = None
    if first.groups is not None:
        groups = [g for s in sets for g in (s.groups or [])]
    return TestSet(
        features=np.concatenate([s.features for s in sets]),
        feature_names=first.feature_names,
        labels=[label for s in sets for label in s.labels],
        groups=groups,
    )
