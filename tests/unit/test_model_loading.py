"""The pre-load checks: each refusal code, and what sandbox lets through."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from covenant.dataplane.server import LoadedModelInfo, ModelRefusedError, check_model
from covenant.provenance import (
    Envelope,
    build_statement,
    embed_watermark,
    sign_envelope,
    subjects_from_digests,
)
from covenant.signing import LocalKeySigner
from provenance_support import onnx_model_bytes, predicate


def _signed(root: Path, signer: LocalKeySigner, model: bytes) -> Envelope:
    digest = hashlib.sha256(model).hexdigest()
    statement = build_statement(subjects_from_digests({"model.onnx": digest}), predicate())
    return asyncio.run(sign_envelope(statement, signer))


@pytest.fixture
def setup(tmp_path: Path) -> dict[str, object]:
    signer = LocalKeySigner.generate(tmp_path / "notary.pem")
    model = onnx_model_bytes()
    (tmp_path / "model.onnx").write_bytes(model)
    envelope = _signed(tmp_path, signer, model)
    embed_watermark(tmp_path / "model.onnx", tmp_path / "marked.onnx", envelope)
    return {
        "signer": signer,
        "envelope": envelope,
        "digest": "sha256:" + hashlib.sha256(model).hexdigest(),
        "root": tmp_path,
    }


def _check(setup: dict[str, object], **overrides: object) -> LoadedModelInfo:
    signer = setup["signer"]
    assert isinstance(signer, LocalKeySigner)
    envelope = setup["envelope"]
    assert isinstance(envelope, Envelope)
    root = setup["root"]
    assert isinstance(root, Path)
    args: dict[str, object] = {
        "model_id": "digits:1.2.0",
        "env": "prod",
        "model_path": root / "marked.onnx",
        "artifact_digest": setup["digest"],
        "manifest": envelope.to_bytes(),
        "trusted_keys": [signer.public_key_pem()],
    }
    args.update(overrides)
    return check_model(**args)  # type: ignore[arg-type]


def _code(setup: dict[str, object], **overrides: object) -> str:
    with pytest.raises(ModelRefusedError) as caught:
        _check(setup, **overrides)
    return caught.value.code


def test_a_signed_watermarked_model_loads_in_prod(setup: dict[str, object]) -> None:
    info = _check(setup)
    signer = setup["signer"]
    assert isinstance(signer, LocalKeySigner)
    assert info.signer_id == signer.key_id
    assert info.artifact_digest == setup["digest"]
    assert info.version == "1.2.0"


def test_an_altered_file_is_a_digest_mismatch(setup: dict[str, object]) -> None:
    root = setup["root"]
    assert isinstance(root, Path)
    altered = root / "altered.onnx"
    altered.write_bytes(onnx_model_bytes(scale=3.0))
    assert _code(setup, model_path=altered) == "digest_mismatch"
    assert _code(setup, env="sandbox", model_path=altered) == "digest_mismatch"


def test_prod_and_staging_refuse_an_unsigned_model(setup: dict[str, object]) -> None:
    assert _code(setup, manifest=None) == "unsigned"
    assert _code(setup, env="staging", manifest=None) == "unsigned"


def test_sandbox_accepts_an_unsigned_model(setup: dict[str, object]) -> None:
    root = setup["root"]
    assert isinstance(root, Path)
    info = _check(setup, env="sandbox", manifest=None, model_path=root / "model.onnx")
    assert info.signer_id is None


def test_a_model_resigned_by_an_untrusted_key_is_refused(setup: dict[str, object]) -> None:
    root = setup["root"]
    assert isinstance(root, Path)
    other = LocalKeySigner.generate(root / "mallory.pem")
    envelope = _signed(root, other, (root / "model.onnx").read_bytes())
    assert _code(setup, manifest=envelope.to_bytes()) == "untrusted_signer"


def test_a_forged_signature_is_signature_invalid(setup: dict[str, object]) -> None:
    envelope = setup["envelope"]
    assert isinstance(envelope, Envelope)
    sig = envelope.signatures[0]
    forged = Envelope(envelope.payload_type, envelope.payload, (type(sig)(sig.keyid, bytes(64)),))
    assert _code(setup, manifest=forged.to_bytes()) == "signature_invalid"
    assert _code(setup, manifest=b"not json") == "signature_invalid"


def test_a_manifest_for_another_model_is_a_subject_mismatch(setup: dict[str, object]) -> None:
    root, signer = setup["root"], setup["signer"]
    assert isinstance(root, Path)
    assert isinstance(signer, LocalKeySigner)
    other = _signed(root, signer, onnx_model_bytes(scale=5.0))
    assert _code(setup, manifest=other.to_bytes()) == "subject_mismatch"


def test_an_unwatermarked_file_is_refused_outside_sandbox(setup: dict[str, object]) -> None:
    root = setup["root"]
    assert isinstance(root, Path)
    assert _code(setup, model_path=root / "model.onnx") == "watermark_missing"


def test_a_watermark_naming_another_manifest_is_a_mismatch(setup: dict[str, object]) -> None:
    root, signer = setup["root"], setup["signer"]
    assert isinstance(root, Path)
    assert isinstance(signer, LocalKeySigner)
    model = (root / "model.onnx").read_bytes()
    statement = build_statement(
        subjects_from_digests({"model.onnx": hashlib.sha256(model).hexdigest()}),
        predicate(model_id="digits:9.9.9"),
    )
    second = asyncio.run(sign_envelope(statement, signer))
    assert _code(setup, manifest=second.to_bytes()) == "watermark_mismatch"


def test_bad_arguments_are_value_errors_not_refusals(setup: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="family:version"):
        _check(setup, model_id="digits")
    with pytest.raises(ValueError, match="sha256"):
        _check(setup, artifact_digest="md5:abc")
