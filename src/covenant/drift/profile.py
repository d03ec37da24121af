"""Reference profiles: what a model's data and outputs looked like when it was trained.

A profile is kept, not recomputed: it is built once from the training (or evaluation)
data, stored as an artifact beside the model version, and every later drift window is
scored against it. So it must be small whatever the data's size, and mergeable, so
shards of a large data set can be profiled in parallel and folded together.

* A numeric feature keeps an Apache DataSketches KLL sketch (``kll_doubles_sketch``,
  its standard binary serialization, which the Java and C++ DataSketches read too) and
  exact summary statistics: count, missing count, min, max, mean and the sum of squared
  deviations, merged with Chan et al.'s parallel update so a merge is exact.
* A categorical feature keeps exact frequencies.
* Outputs are profiled the same way, under names that start with ``output:``.

The document is RFC 8785 canonical JSON, so a profile read back is the same bytes and
the same artifact digest. Two *builds* of the same data are not: KLL compacts at random
offsets (DataSketches exposes no seed), so rebuilt sketches agree within the rank error,
not bit for bit. That is why a profile is stored and referenced by digest, never rebuilt.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import rfc8785
from datasketches import kll_doubles_sketch

from covenant.drift.errors import ProfileError

PROFILE_SCHEMA = "covenant.drift.profile/v1"
#: KLL's k. At 2,000 the normalised rank error is 0.14 % (99 % confidence, as
#: DataSketches states it), about 45 KB per feature, whatever the row count.
DEFAULT_K = 2000
OUTPUT_PREFIX = "output:"


@dataclass(frozen=True)
class Moments:
    """Exact count, extremes, mean and M2 (sum of squared deviations) of the finite values."""

    count: int = 0
    missing: int = 0
    minimum: float = math.inf
    maximum: float = -math.inf
    mean: float = 0.0
    m2: float = 0.0

    @staticmethod
    def of(values: np.ndarray) -> Moments:
        finite = values[np.isfinite(values)]
        missing = int(values.size - finite.size)
        if finite.size == 0:
            return Moments(missing=missing)
        mean = float(finite.mean())
        return Moments(
            count=int(finite.size),
            missing=missing,
            minimum=float(finite.min()),
            maximum=float(finite.max()),
            mean=mean,
            m2=float(((finite - mean) ** 2).sum()),
        )

    def merge(self, other: Moments) -> Moments:
        """Chan, Golub and LeVeque's pairwise update: exact up to rounding."""
        n = self.count + other.count
        if n == 0:
            return Moments(missing=self.missing + other.missing)
        delta = other.mean - self.mean
        return Moments(
            count=n,
            missing=self.missing + other.missing,
            minimum=min(self.minimum, other.minimum),
            maximum=max(self.maximum, other.maximum),
            mean=self.mean + delta * other.count / n,
            m2=self.m2 + other.m2 + delta * delta * self.count * other.count / n,
        )

    @property
    def std(self) -> float:
        """Population standard deviation (ddof 0, as numpy and Evidently use)."""
        return math.sqrt(self.m2 / self.count) if self.count else 0.0


@dataclass
class NumericProfile:
    """One numeric column: a KLL sketch of its finite values and their exact moments."""

    sketch: kll_doubles_sketch
    moments: Moments
    _support: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    @staticmethod
    def of(values: np.ndarray, k: int = DEFAULT_K) -> NumericProfile:
        sketch = kll_doubles_sketch(k)
        finite = values[np.isfinite(values)]
        if finite.size:
            sketch.update(np.ascontiguousarray(finite, dtype=np.float64))
        return NumericProfile(sketch, Moments.of(values))

    def merge(self, other: NumericProfile) -> NumericProfile:
        if other.sketch.k != self.sketch.k:
            raise ProfileError(f"cannot merge sketches of k={self.sketch.k} and k={other.sketch.k}")
        merged = kll_doubles_sketch.deserialize(self.sketch.serialize())
        merged.merge(other.sketch)
        return NumericProfile(merged, self.moments.merge(other.moments))

    @property
    def rank_error(self) -> float:
        """The sketch's stated normalised rank error; 0 while it still holds every value."""
        if not self.sketch.is_estimation_mode():
            return 0.0
        return float(kll_doubles_sketch.get_normalized_rank_error(self.sketch.k, False))

    def support(self) -> tuple[np.ndarray, np.ndarray]:
        """The sketch as a weighted sample: sorted distinct values and their weights.

        In exact mode this is the data itself, so statistics computed from it equal the
        ones scipy computes from the raw values.
        """
        if self._support is not None:
            return self._support
        pairs = list(self.sketch)
        if not pairs:
            return np.empty(0), np.empty(0)
        values = np.fromiter((p[0] for p in pairs), dtype=np.float64, count=len(pairs))
        weights = np.fromiter((p[1] for p in pairs), dtype=np.float64, count=len(pairs))
        order = np.argsort(values, kind="stable")
        values, weights = values[order], weights[order]
        distinct, start = np.unique(values, return_index=True)
        self._support = (distinct, np.add.reduceat(weights, start))
        return self._support


@dataclass
class CategoricalProfile:
    """One categorical column: exact frequencies, missing values counted apart."""

    counts: dict[str, int]
    missing: int = 0

    @staticmethod
    def of(values: Iterable[object]) -> CategoricalProfile:
        counts: dict[str, int] = {}
        missing = 0
        for value in values:
            if value is None or (isinstance(value, float) and math.isnan(value)):
                missing += 1
                continue
            key = str(value)
            counts[key] = counts.get(key, 0) + 1
        return CategoricalProfile(counts, missing)

    def merge(self, other: CategoricalProfile) -> CategoricalProfile:
        counts = dict(self.counts)
        for key, count in other.counts.items():
            counts[key] = counts.get(key, 0) + count
        return CategoricalProfile(counts, self.missing + other.missing)

    @property
    def count(self) -> int:
        return sum(self.counts.values())


ColumnProfile = NumericProfile | CategoricalProfile


@dataclass
class Profile:
    """The reference of one model version: its columns, in a stated order."""

    columns: dict[str, ColumnProfile]
    rows: int
    metadata: dict[str, str] = field(default_factory=dict)
    #: Outcome rates as (hits, trials): ``accuracy`` (correct of labelled), and
    #: ``positive:<attribute>=<group>`` (positive predictions of a group's rows), the
    #: references of performance and fairness drift.
    rates: dict[str, tuple[int, int]] = field(default_factory=dict)
    _digest: str | None = field(default=None, repr=False, compare=False)

    @property
    def features(self) -> list[str]:
        return [name for name in self.columns if not name.startswith(OUTPUT_PREFIX)]

    @property
    def outputs(self) -> list[str]:
        return [name for name in self.columns if name.startswith(OUTPUT_PREFIX)]

    def merge(self, other: Profile) -> Profile:
        """Fold another shard's profile in; both must describe the same columns and kinds."""
        if list(self.columns) != list(other.columns):
            raise ProfileError(
                f"profiles describe different columns: {list(self.columns)} "
                f"and {list(other.columns)}"
            )
        merged: dict[str, ColumnProfile] = {}
        for name, mine in self.columns.items():
            theirs = other.columns[name]
            if isinstance(mine, NumericProfile) and isinstance(theirs, NumericProfile):
                merged[name] = mine.merge(theirs)
                continue
            if isinstance(mine, CategoricalProfile) and isinstance(theirs, CategoricalProfile):
                merged[name] = mine.merge(theirs)
                continue
            raise ProfileError(f"column {name!r} is numeric in one profile, not the other")
        rates = dict(self.rates)
        for name, (hits, trials) in other.rates.items():
            mine_hits, mine_trials = rates.get(name, (0, 0))
            rates[name] = (mine_hits + hits, mine_trials + trials)
        return Profile(merged, self.rows + other.rows, dict(self.metadata), rates)

    def to_bytes(self) -> bytes:
        """Canonical JSON (RFC 8785): reading it back and writing it again is byte-identical."""
        columns: list[dict[str, Any]] = []
        for name, column in self.columns.items():
            if isinstance(column, NumericProfile):
                m = column.moments
                columns.append(
                    {
                        "name": name,
                        "kind": "numeric",
                        "kll": base64.b64encode(column.sketch.serialize()).decode("ascii"),
                        "k": column.sketch.k,
                        "count": m.count,
                        "missing": m.missing,
                        "min": m.minimum if m.count else None,
                        "max": m.maximum if m.count else None,
                        "mean": m.mean,
                        "m2": m.m2,
                    }
                )
            else:
                columns.append(
                    {
                        "name": name,
                        "kind": "categorical",
                        "counts": dict(sorted(column.counts.items())),
                        "missing": column.missing,
                    }
                )
        document: dict[str, Any] = {
            "schema": PROFILE_SCHEMA,
            "rows": self.rows,
            "metadata": self.metadata,
            "columns": columns,
            "rates": {name: list(rate) for name, rate in sorted(self.rates.items())},
        }
        return rfc8785.dumps(document)

    def digest(self) -> str:
        """The SHA-256 of the canonical bytes, computed once (a profile is not changed)."""
        if self._digest is None:
            self._digest = "sha256:" + hashlib.sha256(self.to_bytes()).hexdigest()
        return self._digest

    @staticmethod
    def from_bytes(data: bytes) -> Profile:
        try:
            document = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ProfileError(f"a profile is JSON; this is not: {exc}") from exc
        if not isinstance(document, dict) or document.get("schema") != PROFILE_SCHEMA:
            raise ProfileError(f"not a {PROFILE_SCHEMA} document")
        try:
            columns: dict[str, ColumnProfile] = {}
            for entry in document["columns"]:
                if entry["kind"] == "numeric":
                    sketch = kll_doubles_sketch.deserialize(base64.b64decode(entry["kll"]))
                    moments = Moments(
                        count=entry["count"],
                        missing=entry["missing"],
                        minimum=math.inf if entry["min"] is None else entry["min"],
                        maximum=-math.inf if entry["max"] is None else entry["max"],
                        mean=entry["mean"],
                        m2=entry["m2"],
                    )
                    columns[entry["name"]] = NumericProfile(sketch, moments)
                elif entry["kind"] == "categorical":
                    columns[entry["name"]] = CategoricalProfile(
                        {str(k): int(v) for k, v in entry["counts"].items()}, entry["missing"]
                    )
                else:
                    raise ProfileError(f"column {entry['name']!r} has unknown kind")
            rates = {
                str(name): (int(hits), int(trials))
                for name, (hits, trials) in document.get("rates", {}).items()
            }
            return Profile(
                columns, int(document["rows"]), dict(document.get("metadata", {})), rates
            )
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError, binascii.Error) as exc:
            raise ProfileError(f"malformed profile: {exc!r}") from exc


def build_profile(
    numeric: Mapping[str, Sequence[float] | np.ndarray],
    categorical: Mapping[str, Sequence[object]] | None = None,
    *,
    k: int = DEFAULT_K,
    metadata: Mapping[str, str] | None = None,
    rates: Mapping[str, tuple[int, int]] | None = None,
) -> Profile:
    """Profile columns of equal length; output columns are named ``output:<name>``."""
    categorical = categorical or {}
    lengths = {name: len(values) for name, values in [*numeric.items(), *categorical.items()]}
    if len(set(lengths.values())) > 1:
        raise ProfileError(f"columns differ in length: {lengths}")
    overlap = set(numeric) & set(categorical)
    if overlap:
        raise ProfileError(f"columns both numeric and categorical: {sorted(overlap)}")
    columns: dict[str, ColumnProfile] = {}
    for name, values in numeric.items():
        try:
            array = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ProfileError(f"column {name!r} is not numeric: {exc}") from exc
        columns[name] = NumericProfile.of(array, k)
    for name, cats in categorical.items():
        columns[name] = CategoricalProfile.of(cats)
    rows = next(iter(lengths.values()), 0)
    for name, (hits, trials) in (rates or {}).items():
        if not 0 <= hits <= trials:
            raise ProfileError(f"rate {name!r}: {hits} hits of {trials} trials")
    return Profile(columns, rows, dict(metadata or {}), dict(rates or {}))
