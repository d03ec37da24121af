"""The in-toto Statement v1 that says which files a model is and what was decided about it.

A statement (https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md) is::

    {"_type": "https://in-toto.io/Statement/v1",
     "subject": [{"name": "<path inside the artifact>", "digest": {"sha256": "<hex>"}}, ...],
     "predicateType": "https://covenant.dev/attestation/model-promotion/v1",
     "predicate": {...}}

One subject per file of the model artifact, named by its path inside the artifact with
forward slashes, so the statement names the exact set of files a server may load (see
``covenant.provenance.files``). Subjects are sorted by name and names are unique: the
same files always give the same statement bytes.

Serialization is RFC 8785 (the JSON Canonicalization Scheme, via the ``rfc8785``
package): sorted keys, no insignificant whitespace, UTF-8, ECMAScript number form. The
signature covers those exact bytes (DSSE signs bytes, not JSON), so a verifier never
needs to canonicalize; canonical form only makes the manifest digest reproducible by
anyone who rebuilds the statement, in any language.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import rfc8785

from covenant.provenance._errors import ProvenanceError
from covenant.provenance.predicate import PREDICATE_TYPE, check_predicate

__all__ = [
    "STATEMENT_TYPE",
    "Statement",
    "Subject",
    "build_statement",
    "canonical_json",
    "sha256_file",
    "subjects_from_digests",
    "subjects_from_files",
    "subjects_from_folder",
]

STATEMENT_TYPE: Final = "https://in-toto.io/Statement/v1"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1 << 20


def canonical_json(value: Any) -> bytes:
    """RFC 8785 canonical JSON bytes of ``value``.

    Raises:
        ProvenanceError: ``value`` holds something JSON cannot (NaN, bytes, a set...).
    """
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise ProvenanceError(f"cannot canonicalize as JSON: {exc}") from None


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Lowercase hex SHA-256 of a file, read in 1 MiB chunks (models can be gigabytes)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _check_name(name: str) -> str:
    """A subject name is a relative path with forward slashes and no ``.``/``..`` parts."""
    parts = name.split("/")
    if not name or "\\" in name or "\x00" in name or any(p in ("", ".", "..") for p in parts):
        raise ProvenanceError(
            f"subject name {name!r} is not a relative path with forward slashes", name=name
        )
    return name


@dataclass(frozen=True, slots=True)
class Subject:
    """One file of the model: its path inside the artifact and its digests.

    ``digest`` keeps every algorithm the statement names (in-toto allows several);
    Covenant computes and checks ``sha256``, which every subject must have.
    """

    name: str
    digest: Mapping[str, str]

    @property
    def sha256(self) -> str:
        """The lowercase hex SHA-256 of the file."""
        return self.digest["sha256"]

    def to_json(self) -> dict[str, Any]:
        """The in-toto ResourceDescriptor."""
        return {"name": self.name, "digest": dict(self.digest)}

    @classmethod
    def of(cls, name: str, sha256: str) -> Subject:
        """A subject from a name and a hex SHA-256 (validated).

        Raises:
            ProvenanceError: the name is not a relative forward-slash path, or the digest
                is not 64 lowercase hex digits.
        """
        _check_name(name)
        if not isinstance(sha256, str) or not _HEX64.fullmatch(sha256):
            raise ProvenanceError(
                f"subject {name!r}: sha256 must be 64 lowercase hex digits", name=name
            )
        return cls(name, {"sha256": sha256})


@dataclass(frozen=True, slots=True)
class Statement:
    """A parsed in-toto Statement v1 whose subjects are model files.

    ``extra`` keeps any top-level field beyond the four the spec defines, as read from
    a statement another tool wrote; ``to_json`` does not write it back, so a verified
    payload's bytes (not a re-serialization) are what any digest is taken of.
    """

    subjects: tuple[Subject, ...]
    predicate: Mapping[str, Any]
    predicate_type: str = PREDICATE_TYPE
    extra: Mapping[str, Any] = field(default_factory=dict)

    def subject(self, name: str) -> Subject:
        """The subject called ``name``.

        Raises:
            ProvenanceError: no subject has that name.
        """
        for subject in self.subjects:
            if subject.name == name:
                return subject
        raise ProvenanceError(f"{name!r} is not a subject of the statement", name=name)

    def to_json(self) -> dict[str, Any]:
        """The statement as JSON-ready data."""
        return {
            "_type": STATEMENT_TYPE,
            "subject": [s.to_json() for s in self.subjects],
            "predicateType": self.predicate_type,
            "predicate": dict(self.predicate),
        }

    def canonical_bytes(self) -> bytes:
        """The RFC 8785 bytes the envelope's payload carries."""
        return canonical_json(self.to_json())

    @classmethod
    def from_json(cls, data: Any) -> Statement:
        """Parse and check a statement.

        Raises:
            ProvenanceError: not an in-toto Statement v1, no subjects, a subject without
                a sha256, a duplicate subject name, or a predicate that is not an object
                (or, for Covenant's predicate type, lacks a required field).
        """
        if not isinstance(data, Mapping):
            raise ProvenanceError("statement is not a JSON object")
        if data.get("_type") != STATEMENT_TYPE:
            raise ProvenanceError(
                f"statement _type is {data.get('_type')!r}, not {STATEMENT_TYPE!r}"
            )
        raw_subjects = data.get("subject")
        if not isinstance(raw_subjects, list) or not raw_subjects:
            raise ProvenanceError("statement has no subject list")
        subjects = []
        for raw in raw_subjects:
            if not isinstance(raw, Mapping) or not isinstance(raw.get("name"), str):
                raise ProvenanceError(f"statement subject {raw!r:.80} has no name")
            digest = raw.get("digest")
            if not isinstance(digest, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in digest.items()
            ):
                raise ProvenanceError(f"subject {raw['name']!r} has no digest map")
            subject = Subject.of(raw["name"], digest.get("sha256", ""))
            subjects.append(Subject(subject.name, dict(digest)))
        predicate_type = data.get("predicateType")
        if not isinstance(predicate_type, str) or not predicate_type:
            raise ProvenanceError("statement has no predicateType")
        predicate = data.get("predicate")
        if not isinstance(predicate, Mapping):
            raise ProvenanceError("statement predicate is not a JSON object")
        if predicate_type == PREDICATE_TYPE:
            check_predicate(predicate)
        known = {"_type", "subject", "predicateType", "predicate"}
        extra = {k: v for k, v in data.items() if k not in known}
        return cls(_unique(subjects), predicate, predicate_type, extra)

    @classmethod
    def from_bytes(cls, payload: bytes) -> Statement:
        """Parse a statement from JSON bytes.

        Raises:
            ProvenanceError: not UTF-8 JSON, or not a valid statement.
        """
        try:
            data = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ProvenanceError(f"statement is not JSON: {exc}") from None
        return cls.from_json(data)


def _unique(subjects: Iterable[Subject]) -> tuple[Subject, ...]:
    ordered = sorted(subjects, key=lambda s: s.name)
    for before, after in itertools.pairwise(ordered):
        if before.name == after.name:
            raise ProvenanceError(f"subject {after.name!r} appears twice", name=after.name)
    return tuple(ordered)


def subjects_from_digests(digests: Mapping[str, str]) -> tuple[Subject, ...]:
    """Subjects from ``{name inside the artifact: hex sha256}``, sorted by name.

    For callers that already know the digests (the artifact store hashed the files).

    Raises:
        ProvenanceError: a name or a digest is malformed.
    """
    return _unique(Subject.of(name, sha) for name, sha in digests.items())


def subjects_from_files(files: Mapping[str, str | os.PathLike[str]]) -> tuple[Subject, ...]:
    """Subjects from ``{name inside the artifact: path on disk}``, hashing each file.

    Raises:
        ProvenanceError: a name is malformed or a file cannot be read.
    """
    found = {}
    for name, path in files.items():
        _check_name(name)
        try:
            found[name] = sha256_file(path)
        except OSError as exc:
            raise ProvenanceError(f"cannot read {name!r} at {path}: {exc}", name=name) from None
    return subjects_from_digests(found)


def folder_files(folder: str | os.PathLike[str]) -> dict[str, Path]:
    """Every regular file under ``folder``, by its forward-slash path relative to it.

    Raises:
        ProvenanceError: ``folder`` is not a directory, or holds a symbolic link or
            something that is not a regular file (a model folder is plain files only:
            a link could point anywhere, after signing).
    """
    root = Path(folder)
    if not root.is_dir():
        raise ProvenanceError(f"{root} is not a folder")
    files: dict[str, Path] = {}
    for path in sorted(root.rglob("*")):
        name = path.relative_to(root).as_posix()
        if path.is_symlink():
            raise ProvenanceError(f"{name!r} is a symbolic link; not allowed in a model", name=name)
        if path.is_dir():
            continue
        if not path.is_file():
            raise ProvenanceError(f"{name!r} is not a regular file", name=name)
        files[name] = path
    return files


def subjects_from_folder(folder: str | os.PathLike[str]) -> tuple[Subject, ...]:
    """One subject per regular file under ``folder`` (recursively), hashed as streamed.

    Raises:
        ProvenanceError: see ``folder_files``; or the folder holds no file.
    """
    files = folder_files(folder)
    if not files:
        raise ProvenanceError(f"{folder} holds no file to attest")
    return subjects_from_files(files)


def build_statement(
    subjects: Iterable[Subject],
    predicate: Mapping[str, Any],
    *,
    predicate_type: str = PREDICATE_TYPE,
) -> Statement:
    """Assemble a statement, checking it exactly as a verifier will.

    Args:
        subjects: the model's files (see the ``subjects_from_*`` builders).
        predicate: what was decided about them; for the default type, as
            ``covenant.provenance.predicate.build_predicate`` makes it.
        predicate_type: the predicate's type URI.

    Raises:
        ProvenanceError: no subjects, a duplicate name, or an invalid predicate.
    """
    statement = Statement(tuple(subjects), predicate, predicate_type)
    return Statement.from_json(json.loads(statement.canonical_bytes()))
