"""The breast cancer data set as a file Covenant can register, and the reader for it.

scikit-learn ships the 569 tumour measurements (30 features, malignant or benign)
with the package, so nothing is downloaded. A run never calls ``load_breast_cancer``
itself: it reads the dataset file the context gives it, so the platform can verify
the bytes and record their checksum. The file is CSV, one sample a line,
``label,f0,...,f29``, the features as Python's shortest float repr: the same bytes on
every machine, and read back bit for bit.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer

N_FEATURES = 30


def cancer_csv() -> bytes:
    """The data set, as this module's CSV."""
    data = load_breast_cancer()
    lines = ["label," + ",".join(f"f{i}" for i in range(N_FEATURES))]
    for row, label in zip(data.data.tolist(), data.target.tolist(), strict=True):
        lines.append(f"{label}," + ",".join(repr(v) for v in row))
    return ("\n".join(lines) + "\n").encode("ascii")


def export(path: Path) -> Path:
    """Write the data set to ``path``; the path."""
    path.write_bytes(cancer_csv())
    return path


def load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(features, labels)`` from a file written by ``export``."""
    table = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)
    if table.shape[1] != N_FEATURES + 1:
        raise ValueError(f"{path.name}: expected {N_FEATURES + 1} columns, got {table.shape[1]}")
    return table[:, 1:], table[:, 0].astype(np.int64)


if __name__ == "__main__":
    print(export(Path(sys.argv[1] if len(sys.argv) > 1 else "breast_cancer.csv")))
