"""An ONNX model carries its manifest digest and signer; a server checks them on load."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import onnx
import pytest

from covenant.provenance import (
    Envelope,
    ProvenanceError,
    Watermark,
    build_statement,
    check_watermark,
    embed_watermark,
    manifest_digest,
    read_watermark,
    sign_envelope,
    subjects_from_folder,
    verify_model_files,
)
from covenant.provenance.watermark import MANIFEST_KEY, SIGNER_KEY, watermark_aware_digest
from covenant.signing import LocalKeySigner
from provenance_support import model_folder, onnx_model_bytes, predicate


@pytest.fixture
def signer(tmp_path: Path) -> LocalKeySigner:
    return LocalKeySigner.generate(tmp_path / "manifest-key.pem")


@pytest.fixture
async def signed(tmp_path: Path, signer: LocalKeySigner) -> tuple[Path, Envelope]:
    folder = model_folder(tmp_path)
    statement = build_statement(subjects_from_folder(folder), predicate())
    return folder, await sign_envelope(statement, signer)


def test_a_watermark_is_in_the_model_metadata_and_the_model_still_loads(
    signed: tuple[Path, Envelope], tmp_path: Path, signer: LocalKeySigner
) -> None:
    folder, envelope = signed
    target = tmp_path / "served.onnx"
    mark = embed_watermark(folder / "model.onnx", target, envelope)
    assert mark == Watermark(manifest_digest(envelope), signer.key_id, mark.subject_sha256)
    model = onnx.load(target)
    onnx.checker.check_model(model)
    props = {p.key: p.value for p in model.metadata_props}
    assert props[MANIFEST_KEY] == manifest_digest(envelope)
    assert props[SIGNER_KEY] == signer.key_id
    assert props["author"] == "tests"  # the model's own metadata is kept
    assert read_watermark(target) == mark
    assert read_watermark(folder / "model.onnx") is None
    assert check_watermark(target, envelope, public_key_pem=signer.public_key_pem()) == mark
    assert (
        check_watermark(target, envelope, public_key_pem=signer.public_key_pem(), name="model.onnx")
        == mark
    )


def test_a_tampered_watermarked_model_fails(
    signed: tuple[Path, Envelope], tmp_path: Path, signer: LocalKeySigner
) -> None:
    folder, envelope = signed
    key = signer.public_key_pem()
    target = tmp_path / "served.onnx"
    embed_watermark(folder / "model.onnx", target, envelope)
    data = target.read_bytes()

    # One byte of the weights changed (2.0 -> another float), watermark intact.
    at = data.index(b"\x00\x00\x00\x40")  # the float32 2.0 of the weight, little-endian
    assert at < len(onnx_model_bytes())
    tampered = bytearray(data)
    tampered[at + 3] ^= 0x01  # 2.0 -> 2.0000002
    bad = tmp_path / "tampered.onnx"
    bad.write_bytes(bytes(tampered))
    with pytest.raises(ProvenanceError, match="altered after watermarking"):
        check_watermark(bad, envelope, public_key_pem=key)

    # The model re-saved by a tool: the watermark is no longer an appended suffix.
    resaved = tmp_path / "resaved.onnx"
    model = onnx.load(target)
    model.metadata_props.add(key="note", value="re-saved")
    onnx.save(model, resaved)
    with pytest.raises(ProvenanceError, match="re-serialized or edited"):
        check_watermark(resaved, envelope, public_key_pem=key)

    # Another model marked with this manifest is not a subject of it.
    stranger = tmp_path / "stranger.onnx"
    stranger.write_bytes(onnx_model_bytes(scale=3.0))
    with pytest.raises(ProvenanceError, match="not a subject"):
        embed_watermark(stranger, tmp_path / "x.onnx", envelope)

    # An unmarked model has nothing to check.
    with pytest.raises(ProvenanceError, match="no Covenant watermark"):
        check_watermark(folder / "model.onnx", envelope, public_key_pem=key)


async def test_a_watermark_of_another_manifest_or_signer_fails(
    signed: tuple[Path, Envelope], tmp_path: Path, signer: LocalKeySigner
) -> None:
    folder, envelope = signed
    target = tmp_path / "served.onnx"
    embed_watermark(folder / "model.onnx", target, envelope)
    statement = build_statement(subjects_from_folder(folder), predicate(run=None))
    newer = await sign_envelope(statement, signer)
    with pytest.raises(ProvenanceError, match="another manifest"):
        check_watermark(target, newer, public_key_pem=signer.public_key_pem())
    other = LocalKeySigner.generate(tmp_path / "other.pem")
    with pytest.raises(ProvenanceError, match="no signature by key"):
        check_watermark(target, envelope, public_key_pem=other.public_key_pem())
    with pytest.raises(ProvenanceError, match=r"not the signed 'config.json'"):
        check_watermark(
            target, envelope, public_key_pem=signer.public_key_pem(), name="config.json"
        )


def test_embedding_refuses_to_overwrite_or_to_mark_twice(
    signed: tuple[Path, Envelope], tmp_path: Path
) -> None:
    folder, envelope = signed
    target = tmp_path / "served.onnx"
    embed_watermark(folder / "model.onnx", target, envelope)
    with pytest.raises(ProvenanceError, match="exists"):
        embed_watermark(folder / "model.onnx", target, envelope)
    with pytest.raises(ProvenanceError, match="already has covenant"):
        embed_watermark(target, tmp_path / "twice.onnx", envelope)
    (tmp_path / "junk.onnx").write_bytes(b"\xff\xff\xff")
    with pytest.raises(ProvenanceError, match="not an ONNX model"):
        read_watermark(tmp_path / "junk.onnx")


def test_a_model_folder_may_hold_the_watermarked_model(
    signed: tuple[Path, Envelope], tmp_path: Path
) -> None:
    folder, envelope = signed
    statement = build_statement(subjects_from_folder(folder), predicate())
    served = tmp_path / "served.onnx"
    embed_watermark(folder / "model.onnx", served, envelope)
    (folder / "model.onnx").unlink()
    served.rename(folder / "model.onnx")
    digest = watermark_aware_digest(statement, envelope)
    with pytest.raises(ProvenanceError, match=r"'model.onnx' has sha256"):
        verify_model_files(statement, folder)  # strict: the raw bytes are not the signed
    assert set(verify_model_files(statement, folder, digest=digest)) == {
        s.name for s in statement.subjects
    }


def test_without_onnx_the_watermark_says_how_to_install_it(
    signed: tuple[Path, Envelope], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, envelope = signed
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    with pytest.raises(ProvenanceError, match=r"pip install 'covenant\[onnx\]'"):
        embed_watermark(folder / "model.onnx", tmp_path / "served.onnx", envelope)
    with pytest.raises(ProvenanceError, match="watermarks need the onnx package"):
        read_watermark(folder / "model.onnx")


def test_importing_provenance_does_not_import_onnx() -> None:
    code = "import sys, covenant.provenance; assert 'onnx' not in sys.modules, 'onnx loaded'"
    subprocess.run([sys.executable, "-c", code], check=True)
