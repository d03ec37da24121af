"""Watermarking an ONNX model with the manifest that signed it, and checking that on load.

A watermark is three entries of the model's own ``metadata_props``, so any ONNX tool
shows them and a server can find the manifest from the model alone::

    covenant.manifest.sha256   SHA-256 of the DSSE payload (``manifest_digest``)
    covenant.signer            the Covenant key id that signed the envelope
    covenant.subject.sha256    SHA-256 of the model file as signed (un-watermarked)

The scheme: the statement's subject is the **un-watermarked** file, the bytes training
produced and the artifact store holds. The watermark cannot be in the bytes it signs,
so it is *appended*: the watermarked file is the signed file's exact bytes followed by
one more serialized ``ModelProto`` holding only those ``metadata_props``. Protobuf
parses a concatenation of two messages as their merge (repeated fields are appended), so
every ONNX reader sees the original model plus the three entries, while the signed
bytes stay bit for bit what they were: no re-serialization, whose byte form protobuf
does not guarantee, is ever trusted.

Checking reverses it exactly: read the entries, rebuild the suffix they must have been
written as, require the file to end with it, and hash what precedes it; that must be
the subject's digest and the recorded ``covenant.subject.sha256``, the manifest digest
must be the envelope's and the signer must be the key that verified it. A changed byte
anywhere before the suffix, a different watermark, a re-saved (re-serialized) file or
a model that already had ``covenant.*`` entries all fail.

Needs the ``onnx`` package (``pip install 'covenant[onnx]'``); the control plane itself
does not, so it is imported only when a watermark is embedded or read.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Final

from covenant.provenance._errors import ProvenanceError
from covenant.provenance.envelope import Envelope, manifest_digest, verify_envelope
from covenant.provenance.files import FileDigest
from covenant.provenance.statement import Statement, sha256_file
from covenant.signing import SignatureError, key_id_for

__all__ = [
    "MANIFEST_KEY",
    "SIGNER_KEY",
    "SUBJECT_KEY",
    "Watermark",
    "check_watermark",
    "embed_watermark",
    "read_watermark",
    "watermark_aware_digest",
]

MANIFEST_KEY: Final = "covenant.manifest.sha256"
SIGNER_KEY: Final = "covenant.signer"
SUBJECT_KEY: Final = "covenant.subject.sha256"
_PREFIX: Final = "covenant."
_INSTALL_HINT: Final = (
    "ONNX watermarks need the onnx package: pip install 'covenant[onnx]' (or pip install onnx)"
)


@dataclass(frozen=True, slots=True)
class Watermark:
    """What a watermarked model says about itself (not yet checked against anything)."""

    manifest_sha256: str
    signer: str
    subject_sha256: str


def _onnx() -> ModuleType:
    try:
        import onnx
    except ImportError:
        raise ProvenanceError(_INSTALL_HINT) from None
    return onnx


def _suffix(mark: Watermark) -> bytes:
    """The exact bytes appended for ``mark``: a ModelProto holding only the entries."""
    onnx = _onnx()
    entries = [
        (MANIFEST_KEY, mark.manifest_sha256),
        (SIGNER_KEY, mark.signer),
        (SUBJECT_KEY, mark.subject_sha256),
    ]
    model = onnx.ModelProto()
    for key, value in entries:
        model.metadata_props.add(key=key, value=value)
    return bytes(model.SerializeToString(deterministic=True))


def _entries(data: bytes, where: str) -> dict[str, list[str]]:
    """The ``covenant.*`` metadata entries of serialized model bytes."""
    onnx = _onnx()
    try:
        model = onnx.load_model_from_string(data)
    except Exception as exc:  # protobuf's DecodeError and friends; any means "not ONNX"
        raise ProvenanceError(f"{where} is not an ONNX model: {exc}") from None
    found: dict[str, list[str]] = {}
    for prop in model.metadata_props:
        if prop.key.startswith(_PREFIX):
            found.setdefault(prop.key, []).append(prop.value)
    return found


def _parse(data: bytes, where: str) -> tuple[Watermark | None, bytes]:
    """The watermark of ``data`` (None if unmarked) and the signed bytes it was added to.

    Raises:
        ProvenanceError: not ONNX, or ``covenant.*`` entries that are not exactly one
            watermark appended as ``embed_watermark`` appends it.
    """
    entries = _entries(data, where)
    if not entries:
        return None, data
    keys = (MANIFEST_KEY, SIGNER_KEY, SUBJECT_KEY)
    if set(entries) != set(keys) or any(len(entries[k]) != 1 for k in keys):
        raise ProvenanceError(f"{where} has covenant.* metadata that is not one watermark")
    mark = Watermark(*(entries[k][0] for k in keys))
    suffix = _suffix(mark)
    if not data.endswith(suffix) or _entries(data[: -len(suffix)], where):
        raise ProvenanceError(
            f"{where}: the watermark is not appended to the signed bytes as Covenant "
            "writes it (the file was re-serialized or edited)"
        )
    return mark, data[: -len(suffix)]


def read_watermark(path: str | os.PathLike[str]) -> Watermark | None:
    """The watermark of the ONNX model at ``path``, or None if it has none.

    Raises:
        ProvenanceError: unreadable, not ONNX, or a malformed watermark; onnx missing.
    """
    return _parse(_read(path), str(path))[0]


def _read(path: str | os.PathLike[str]) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ProvenanceError(f"cannot read {path}: {exc.strerror}") from None


def embed_watermark(
    source: str | os.PathLike[str], target: str | os.PathLike[str], envelope: Envelope
) -> Watermark:
    """Write a watermarked copy of the ONNX model ``source`` to ``target``.

    The producer's step, right after signing: the signature is not checked here (that is
    ``check_watermark``'s job), but ``source`` must be a subject of the envelope's
    statement, so a model is never marked with a manifest that does not name it.

    Args:
        source: the signed (un-watermarked) ONNX file.
        target: the new file; must not exist, and never ``source`` itself.
        envelope: the envelope whose manifest digest and first signer to embed.

    Raises:
        ProvenanceError: ``target`` exists, ``source`` is not ONNX, already has
            ``covenant.*`` metadata, or is not a subject; the envelope has no signature.
    """
    if Path(target).exists():
        raise ProvenanceError(f"{target} exists; a watermark is written to a new file")
    data = _read(source)
    if _entries(data, str(source)):
        raise ProvenanceError(f"{source} already has covenant.* metadata (watermarked?)")
    if not envelope.signatures:
        raise ProvenanceError("envelope has no signature to name in the watermark")
    subject = hashlib.sha256(data).hexdigest()
    statement = Statement.from_bytes(envelope.payload)
    if subject not in {s.sha256 for s in statement.subjects}:
        raise ProvenanceError(f"{source} is not a subject of the envelope's statement")
    mark = Watermark(manifest_digest(envelope), envelope.signatures[0].keyid, subject)
    folder = Path(target).parent
    fd, temp = tempfile.mkstemp(dir=folder, prefix=".watermark-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data + _suffix(mark))
        os.link(temp, target)  # fails rather than replace a file created meanwhile
    except OSError as exc:
        raise ProvenanceError(f"cannot write {target}: {exc.strerror}") from None
    finally:
        os.unlink(temp)
    return mark


def check_watermark(
    path: str | os.PathLike[str],
    envelope: Envelope,
    *,
    public_key_pem: bytes,
    name: str | None = None,
) -> Watermark:
    """Check, as a server loads it, that the model at ``path`` is the signed one.

    Args:
        path: the watermarked ONNX file.
        envelope: the manifest's DSSE envelope.
        public_key_pem: the trusted manifest key.
        name: the subject the file must be; default any subject with its digest.

    Returns:
        The checked watermark.

    Raises:
        ProvenanceError: the envelope does not verify under the key, the file has no
            watermark, or names another manifest or signer, or its signed bytes are
            not that subject's (a changed byte, a swapped model).
    """
    statement = verify_envelope(envelope, public_key_pem)
    where = str(path)
    mark, signed = _parse(_read(path), where)
    if mark is None:
        raise ProvenanceError(f"{where} has no Covenant watermark", name=name)
    return _check(mark, signed, statement, envelope, public_key_pem, name, where)


def _check(
    mark: Watermark,
    signed: bytes,
    statement: Statement,
    envelope: Envelope,
    public_key_pem: bytes | None,
    name: str | None,
    where: str,
) -> Watermark:
    if mark.manifest_sha256 != manifest_digest(envelope):
        raise ProvenanceError(f"{where} is watermarked with another manifest", name=name)
    signers = {s.keyid for s in envelope.signatures}
    try:
        trusted = key_id_for(public_key_pem) if public_key_pem is not None else None
    except SignatureError as exc:
        raise ProvenanceError(f"cannot use the manifest public key: {exc}") from None
    if mark.signer not in signers or (trusted is not None and mark.signer != trusted):
        raise ProvenanceError(f"{where} names signer {mark.signer}, not this one", name=name)
    actual = hashlib.sha256(signed).hexdigest()
    if actual != mark.subject_sha256:
        raise ProvenanceError(
            f"{where}: the model bytes were altered after watermarking", name=name
        )
    digests = {s.name: s.sha256 for s in statement.subjects}
    if name is not None and digests.get(name) != actual:
        raise ProvenanceError(f"{where} is not the signed {name!r}", name=name)
    if actual not in digests.values():
        raise ProvenanceError(f"{where} is not a subject of the signed statement", name=name)
    return mark


def watermark_aware_digest(statement: Statement, envelope: Envelope) -> FileDigest:
    """A ``verify_model_files`` hasher that accepts watermarked copies of ``.onnx`` subjects.

    For a ``.onnx`` file it hashes the signed bytes under a watermark, after checking
    the watermark names this envelope's manifest and signer; an unmarked file, or any
    other file, is hashed as it is, and so is one that does not parse as ONNX or has a
    malformed watermark (it then fails as altered). Without onnx installed, ``.onnx``
    files are hashed raw, so watermarked ones then fail as altered.
    """

    def digest(name: str, path: Path) -> str:
        if not name.endswith(".onnx"):
            return sha256_file(path)
        try:
            _onnx()
        except ProvenanceError:
            return sha256_file(path)
        try:
            mark, signed = _parse(_read(path), name)
        except ProvenanceError:  # not ONNX, or no clean watermark: the raw bytes decide
            return sha256_file(path)
        if mark is not None:
            _check(mark, signed, statement, envelope, None, name, name)
        return hashlib.sha256(signed).hexdigest()

    return digest
