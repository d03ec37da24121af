"""The digits data set as a file Covenant can register, and the reader for it.

scikit-learn ships the 1,797 8x8 digit images with the package, so nothing is
downloaded. A run never calls ``load_digits`` itself: it reads the dataset file the
context gives it, which is what lets the platform verify the bytes and record their
checksum. The file is CSV, one image a line, ``label,p0,...,p63`` with integer
pixels 0-16: the same bytes on every machine, and easy to change by one byte.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

N_FEATURES = 64


def digits_csv() -> bytes:
    """The digits data set, as this module's CSV."""
    digits = load_digits()
    header = "label," + ",".join(f"p{i}" for i in range(N_FEATURES))
    lines = [header]
    for image, label in zip(digits.data.astype(int), digits.target, strict=True):
        lines.append(f"{label}," + ",".join(str(v) for v in image))
    return ("\n".join(lines) + "\n").encode("ascii")


def evaluation_csv(*, rows: slice = slice(None)) -> bytes:
    """The digits as a Covenant test set (``covenant.evaluation.testsets``' format):
    ``p0,...,p63,label,group``, pixels scaled to 0-1 as ``load`` gives them to the
    model, so the ONNX model ``train`` writes scores the file as it is.

    ``group`` is a SYNTHETIC sensitive attribute, ``"even"`` or ``"odd"`` by the parity
    of the first byte of SHA-256 of the row's index in the full data set: deterministic
    and unrelated to the images, there only so the fairness figures have groups to
    compare. Not the index's own parity: the data set's rows cycle through the digits
    in order, so that would tie the group to the label. ``rows`` picks images:
    ``slice(0, None, 5)`` is the rows ``train`` holds out.
    """
    digits = load_digits()
    header = ",".join(f"p{i}" for i in range(N_FEATURES)) + ",label,group"
    lines = [header]
    indices = range(len(digits.target))[rows]
    for i in indices:
        pixels = ",".join(repr(float(v) / 16.0) for v in digits.data[i])
        group = "even" if hashlib.sha256(str(i).encode()).digest()[0] % 2 == 0 else "odd"
        lines.append(f"{pixels},{digits.target[i]},{group}")
    return ("\n".join(lines) + "\n").encode("ascii")


def export(path: Path) -> Path:
    """Write the data set to ``path``; the path."""
    path.write_bytes(digits_csv())
    return path


def load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(pixels scaled to 0-1, labels)`` from a file written by ``export``."""
    table = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)
    if table.shape[1] != N_FEATURES + 1:
        raise ValueError(f"{path.name}: expected {N_FEATURES + 1} columns, got {table.shape[1]}")
    return table[:, 1:] / 16.0, table[:, 0].astype(np.int64)


if __name__ == "__main__":
    print(export(Path(sys.argv[1] if len(sys.argv) > 1 else "digits.csv")))
