"""Checking that files on disk are exactly the files a statement names.

A model folder must be exactly what was signed: every subject present with its digest,
and nothing else. An extra file fails too, because a server loads whatever the folder
holds (a second ``.onnx``, a tokenizer, a pickled hook), and an unsigned file would then
run with the signed model's authority. A renamed file therefore fails twice over, as a
missing subject and an extra file, and the error names both.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from covenant.provenance._errors import ProvenanceError
from covenant.provenance.statement import Statement, folder_files, sha256_file

__all__ = ["FileDigest", "verify_model_files"]

FileDigest = Callable[[str, Path], str]
"""How a file is hashed for a subject: ``(name, path) -> hex sha256``."""


def _raw_digest(name: str, path: Path) -> str:
    return sha256_file(path)


def verify_model_files(
    statement: Statement,
    files: str | os.PathLike[str] | Mapping[str, str | os.PathLike[str]],
    *,
    digest: FileDigest | None = None,
) -> dict[str, str]:
    """Check the files are exactly the statement's subjects, byte for byte.

    Args:
        statement: a verified statement (from ``verify_envelope``).
        files: the model folder (every regular file under it, named by its relative
            forward-slash path), or ``{name inside the artifact: path on disk}``.
        digest: how to hash each file; the default hashes its raw bytes. The
            watermark module passes one that first strips a Covenant watermark.

    Returns:
        ``{name: hex sha256}`` of every file checked.

    Raises:
        ProvenanceError: a subject has no file, a file is not a subject, a digest
            differs, or a file cannot be read; ``name`` is the first file at fault.
    """
    if isinstance(files, Mapping):
        paths = {name: Path(path) for name, path in files.items()}
    else:
        paths = folder_files(files)
    wanted = {s.name: s.sha256 for s in statement.subjects}
    missing = sorted(set(wanted) - set(paths))
    extra = sorted(set(paths) - set(wanted))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing signed file(s) {', '.join(map(repr, missing))}")
        if extra:
            parts.append(f"file(s) not in the signed manifest {', '.join(map(repr, extra))}")
        first = (missing or extra)[0]
        raise ProvenanceError(
            "model files are not exactly what was signed: " + "; ".join(parts), name=first
        )
    hasher = digest or _raw_digest
    found = {}
    for name in sorted(paths):
        try:
            actual = hasher(name, paths[name])
        except OSError as exc:
            raise ProvenanceError(f"cannot read {name!r}: {exc}", name=name) from None
        if actual != wanted[name]:
            raise ProvenanceError(
                f"{name!r} has sha256 {actual}, not the signed {wanted[name]}: "
                "the file was altered or swapped",
                name=name,
            )
        found[name] = actual
    return found
