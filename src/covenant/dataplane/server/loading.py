"""The checks a model server runs before it loads a model file, and why each refuses.

The served file is the notary's **watermarked copy**: the signed (original) bytes with
one ``ModelProto`` of ``covenant.*`` metadata appended (``covenant.provenance.watermark``).
So two digests name the same model: the original's (the registry's ``artifact_id``,
the statement's subject) and the copy's own. The expected ``artifact_digest`` may be
either; the check hashes the raw file and, if it carries a watermark, the signed bytes
under it, and accepts the one that matches. Everything else is about the signed bytes.

In ``sandbox`` only the digest is checked. In ``staging`` and ``prod`` the manifest's
DSSE envelope must verify with one of the trusted keys (a model re-signed by another
key is refused as ``untrusted_signer``), its statement must name the signed bytes as a
subject, and the watermark must name that manifest and that signer.

Refusals carry a stable ``code`` (``REFUSAL_CODES``) so the serving worker can turn one
into a ``serve.refused`` event and the server process can exit with ``REFUSED_EXIT``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from covenant.errors import CovenantError
from covenant.provenance import (
    Envelope,
    ProvenanceError,
    Statement,
    check_watermark,
    verify_envelope,
)
from covenant.provenance.watermark import _parse
from covenant.signing import SignatureError, key_id_for

__all__ = [
    "ENVS",
    "REFUSAL_CODES",
    "REFUSED_EXIT",
    "LoadedModelInfo",
    "ModelRefusedError",
    "check_model",
    "refusal_line",
]

REFUSED_EXIT: Final = 78  # EX_CONFIG (sysexits.h): the model, not the process, is wrong
ENVS: Final = ("sandbox", "staging", "prod")
REFUSAL_CODES: Final = (
    "unreadable",
    "digest_mismatch",
    "unsigned",
    "untrusted_signer",
    "signature_invalid",
    "subject_mismatch",
    "watermark_missing",
    "watermark_mismatch",
)


class ModelRefusedError(CovenantError):
    """The model must not be served; ``code`` is one of ``REFUSAL_CODES``."""

    retriable = False

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason

    def __reduce__(self) -> tuple[type[ModelRefusedError], tuple[str, str]]:
        return (ModelRefusedError, (self.code, self.reason))


@dataclass(frozen=True, slots=True)
class LoadedModelInfo:
    """What a served model is, as every response's provenance reports it."""

    model_id: str  # family:version
    name: str  # the family: the OIP model name
    version: str
    env: str
    path: Path
    artifact_digest: str  # sha256:<hex> of the signed (un-watermarked) bytes
    file_digest: str  # sha256:<hex> of the served file itself
    signer_id: str | None  # the trusted key id that verified the manifest; None in sandbox
    manifest_sha256: str | None


def refusal_line(error: ModelRefusedError) -> str:
    """The one JSON line a refusing server prints on stderr."""
    return json.dumps({"refused": error.code, "reason": error.reason})


def _split_model_id(model_id: str) -> tuple[str, str]:
    name, sep, version = model_id.partition(":")
    if not sep or not name or not version:
        raise ValueError(f"model id {model_id!r} is not family:version")
    return name, version


def _expected_hex(digest: str) -> str:
    hex_part = digest.removeprefix("sha256:")
    if not digest.startswith("sha256:") or len(hex_part) != 64:
        raise ValueError(f"artifact digest {digest!r} is not sha256:<64 hex digits>")
    return hex_part.lower()


def _trusted(keys: Sequence[bytes]) -> dict[str, bytes]:
    trusted: dict[str, bytes] = {}
    for pem in keys:
        try:
            trusted[key_id_for(pem)] = pem
        except SignatureError as exc:
            raise ValueError(f"a trusted key is not a usable Ed25519 public key: {exc}") from None
    return trusted


def check_model(
    *,
    model_id: str,
    env: str,
    model_path: Path,
    artifact_digest: str,
    manifest: bytes | None = None,
    trusted_keys: Sequence[bytes] = (),
) -> LoadedModelInfo:
    """Decide whether the file at ``model_path`` may be served as ``model_id`` in ``env``.

    Args:
        model_id: family:version.
        env: sandbox, staging or prod.
        model_path: the file to serve (the watermarked copy, or any file in sandbox).
        artifact_digest: sha256:<hex> expected of the signed bytes or of the file.
        manifest: the DSSE envelope's JSON bytes; required outside sandbox.
        trusted_keys: PEM public keys whose signatures are trusted.

    Raises:
        ModelRefusedError: the model must not be served (see ``REFUSAL_CODES``).
        ValueError: the arguments themselves are malformed (not a refusal of the model).
    """
    name, version = _split_model_id(model_id)
    if env not in ENVS:
        raise ValueError(f"env {env!r} is not one of {', '.join(ENVS)}")
    expected = _expected_hex(artifact_digest)
    trusted = _trusted(trusted_keys)
    try:
        data = model_path.read_bytes()
    except OSError as exc:
        raise ModelRefusedError("unreadable", f"cannot read {model_path}: {exc.strerror}") from None
    raw = hashlib.sha256(data).hexdigest()
    under = _signed_digest(data, str(model_path))
    if expected not in (raw, under):
        raise ModelRefusedError(
            "digest_mismatch",
            f"{model_path} is sha256:{raw}"
            + (f" (signed bytes sha256:{under})" if under else "")
            + f", not the expected {artifact_digest}",
        )
    signed = under or raw
    info = LoadedModelInfo(
        model_id, name, version, env, model_path, f"sha256:{signed}", f"sha256:{raw}", None, None
    )
    if env == "sandbox":
        return info
    if manifest is None:
        raise ModelRefusedError("unsigned", f"{env} serves signed models only; no manifest given")
    envelope, signer, statement = _verify(manifest, trusted)
    if signed not in {s.sha256 for s in statement.subjects}:
        raise ModelRefusedError(
            "subject_mismatch", f"the manifest does not name sha256:{signed} as a subject"
        )
    _check_watermark_of(model_path, data, envelope, trusted[signer])
    return LoadedModelInfo(
        model_id,
        name,
        version,
        env,
        model_path,
        f"sha256:{signed}",
        f"sha256:{raw}",
        signer,
        hashlib.sha256(envelope.payload).hexdigest(),
    )


def _signed_digest(data: bytes, where: str) -> str | None:
    """Hex digest of the bytes under a watermark, or None when there is no clean one."""
    try:
        mark, signed = _parse(data, where)
    except ProvenanceError:
        return None
    return hashlib.sha256(signed).hexdigest() if mark is not None else None


def _verify(manifest: bytes, trusted: dict[str, bytes]) -> tuple[Envelope, str, Statement]:
    """The envelope, the trusted key id that verified it, and its statement."""
    try:
        envelope = Envelope.from_bytes(manifest)
    except ProvenanceError as exc:
        raise ModelRefusedError("signature_invalid", f"the manifest is malformed: {exc}") from None
    signers = [s.keyid for s in envelope.signatures if s.keyid in trusted]
    if not signers:
        named = ", ".join(sorted({s.keyid for s in envelope.signatures})) or "nobody"
        raise ModelRefusedError(
            "untrusted_signer", f"the manifest is signed by {named}, none of them trusted"
        )
    errors = []
    for keyid in signers:
        try:
            return envelope, keyid, verify_envelope(envelope, trusted[keyid])
        except ProvenanceError as exc:
            errors.append(str(exc))
    raise ModelRefusedError("signature_invalid", errors[0])


def _check_watermark_of(path: Path, data: bytes, envelope: Envelope, pem: bytes) -> None:
    try:
        mark, _ = _parse(data, str(path))
    except ProvenanceError as exc:
        raise ModelRefusedError("watermark_mismatch", str(exc)) from None
    if mark is None:
        raise ModelRefusedError("watermark_missing", f"{path} has no Covenant watermark")
    try:
        check_watermark(path, envelope, public_key_pem=pem)
    except ProvenanceError as exc:
        raise ModelRefusedError("watermark_mismatch", str(exc)) from None
