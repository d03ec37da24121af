"""The signed manifest: an in-toto statement over the model files, in a DSSE envelope."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import jsonschema
import pytest

from covenant.errors import CovenantError
from covenant.provenance import (
    PAYLOAD_TYPE,
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    Envelope,
    ProvenanceError,
    Statement,
    build_statement,
    canonical_json,
    manifest_digest,
    pae,
    predicate_schema,
    sign_envelope,
    subjects_from_digests,
    subjects_from_files,
    subjects_from_folder,
    verify_envelope,
    verify_model_files,
)
from covenant.signing import LocalKeySigner
from provenance_support import model_folder, predicate


@pytest.fixture
def signer(tmp_path: Path) -> LocalKeySigner:
    return LocalKeySigner.generate(tmp_path / "manifest-key.pem")


@pytest.fixture
def other(tmp_path: Path) -> LocalKeySigner:
    return LocalKeySigner.generate(tmp_path / "other-key.pem")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return model_folder(tmp_path)


def test_pae_is_exactly_the_dsse_encoding() -> None:
    # The example of DSSE's protocol.md.
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )
    assert pae("", b"") == b"DSSEv1 0  0 "


def test_subjects_from_a_folder_are_every_file_by_its_relative_path(folder: Path) -> None:
    subjects = subjects_from_folder(folder)
    assert [s.name for s in subjects] == ["assets/labels.txt", "config.json", "model.onnx"]
    onnx_digest = hashlib.sha256((folder / "model.onnx").read_bytes()).hexdigest()
    assert subjects[2].digest == {"sha256": onnx_digest}
    same = subjects_from_files({"model.onnx": folder / "model.onnx"})
    assert same == (subjects[2],)
    assert subjects_from_digests({"model.onnx": onnx_digest}) == same


@pytest.mark.parametrize("name", ["", "/abs", "a/../b", "a\\b", "./a", "a//b"])
def test_a_subject_name_is_a_relative_forward_slash_path(name: str) -> None:
    with pytest.raises(ProvenanceError, match="relative path"):
        subjects_from_digests({name: "0" * 64})


def test_the_statement_is_in_toto_v1_with_the_predicate_and_is_canonical(folder: Path) -> None:
    statement = build_statement(subjects_from_folder(folder), predicate())
    data = json.loads(statement.canonical_bytes())
    assert data["_type"] == STATEMENT_TYPE == "https://in-toto.io/Statement/v1"
    assert data["predicateType"] == PREDICATE_TYPE
    assert data["subject"][0] == {
        "name": "assets/labels.txt",
        "digest": {"sha256": statement.subjects[0].sha256},
    }
    jsonschema.Draft202012Validator(predicate_schema()).validate(data["predicate"])
    # RFC 8785: sorted keys, no whitespace, ECMAScript numbers (5e-8, not 5e-08).
    text = statement.canonical_bytes().decode()
    assert text.startswith('{"_type":')
    assert ": " not in text
    assert "5e-8" in text
    assert text == canonical_json(json.loads(text)).decode()


def test_the_shipped_schema_and_the_built_in_check_agree() -> None:
    validator = jsonschema.Draft202012Validator(predicate_schema())
    jsonschema.Draft202012Validator.check_schema(predicate_schema())
    bad = [
        {**predicate(), "modelId": "no-version"},
        {**predicate(), "artifactId": "md5:00"},
        {**predicate(), "surprise": 1},
        {k: v for k, v in predicate().items() if k != "lineage"},
        {**predicate(), "evaluations": [1]},
        {**predicate(), "audit": {"keyId": "nope"}},
    ]
    for document in bad:
        assert not validator.is_valid(document)
        with pytest.raises(ProvenanceError, match="model-promotion predicate"):
            build_statement(subjects_from_digests({"m": "0" * 64}), document)
    assert validator.is_valid(predicate(audit_key_id="ed25519:0123456789abcdef"))


async def test_an_envelope_verifies_under_its_key_and_gives_the_statement(
    folder: Path, signer: LocalKeySigner
) -> None:
    statement = build_statement(subjects_from_folder(folder), predicate())
    envelope = await sign_envelope(statement, signer)
    data = envelope.to_json()
    assert data["payloadType"] == PAYLOAD_TYPE == "application/vnd.in-toto+json"
    assert base64.b64decode(data["payload"], validate=True) == statement.canonical_bytes()
    assert data["signatures"][0]["keyid"] == signer.key_id
    assert manifest_digest(envelope) == hashlib.sha256(statement.canonical_bytes()).hexdigest()
    for form in (envelope, data, envelope.to_bytes(), envelope.to_bytes().decode()):
        assert verify_envelope(form, signer.public_key_pem()) == statement


async def test_an_envelope_fails_clearly_when_it_is_not_what_was_signed(
    folder: Path, signer: LocalKeySigner, other: LocalKeySigner
) -> None:
    statement = build_statement(subjects_from_folder(folder), predicate())
    good = (await sign_envelope(statement, signer)).to_json()
    key = signer.public_key_pem()
    forged = dict(good, payload=base64.b64encode(b'{"_type": "x"}').decode())
    cases = {
        "payloadType is": dict(good, payloadType="application/json"),
        "not valid base64": dict(good, payload="%%%"),
        "no signature by key": (await sign_envelope(statement, other)).to_json(),
        "does not verify": forged,
    }
    for reason, envelope in cases.items():
        with pytest.raises(ProvenanceError, match=reason) as caught:
            verify_envelope(envelope, key)
        assert isinstance(caught.value, CovenantError)
    # A bad sig's base64 fails as base64, and verification needs a usable key.
    bad_sig = dict(good, signatures=[{"keyid": signer.key_id, "sig": "no!"}])
    with pytest.raises(ProvenanceError, match="sig is not valid base64"):
        verify_envelope(bad_sig, key)
    with pytest.raises(ProvenanceError, match="manifest public key"):
        verify_envelope(good, b"not a key")


async def test_url_safe_base64_is_read_but_mixed_alphabets_are_not(
    folder: Path, signer: LocalKeySigner
) -> None:
    statement = build_statement(subjects_from_folder(folder), predicate())
    data = (await sign_envelope(statement, signer)).to_json()
    safe = base64.urlsafe_b64encode(base64.b64decode(data["payload"])).decode()
    sig = base64.urlsafe_b64encode(base64.b64decode(data["signatures"][0]["sig"])).decode()
    url_safe = dict(data, payload=safe, signatures=[{"keyid": signer.key_id, "sig": sig}])
    assert verify_envelope(url_safe, signer.public_key_pem()) == statement
    with pytest.raises(ProvenanceError, match="mixed alphabets"):
        verify_envelope(dict(data, payload="ab-/"), signer.public_key_pem())
    with pytest.raises(ProvenanceError, match="not valid base64"):
        verify_envelope(
            dict(data, payload=data["payload"].rstrip("=") + "A"), signer.public_key_pem()
        )


async def test_the_signature_is_checked_before_the_payload_is_parsed(
    signer: LocalKeySigner,
) -> None:
    # An unsigned payload that is not even JSON fails on the signature, not the parser.
    envelope = Envelope(PAYLOAD_TYPE, b"\xff not json", ())
    with pytest.raises(ProvenanceError, match="no signature by key"):
        verify_envelope(envelope, signer.public_key_pem())


async def test_another_signature_beside_ours_does_not_matter(
    folder: Path, signer: LocalKeySigner, other: LocalKeySigner
) -> None:
    statement = build_statement(subjects_from_folder(folder), predicate())
    ours, theirs = await sign_envelope(statement, signer), await sign_envelope(statement, other)
    both = Envelope(PAYLOAD_TYPE, ours.payload, theirs.signatures + ours.signatures)
    assert verify_envelope(both, signer.public_key_pem()) == statement


def test_the_model_folder_must_be_exactly_the_subjects(folder: Path, tmp_path: Path) -> None:
    statement = build_statement(subjects_from_folder(folder), predicate())
    assert set(verify_model_files(statement, folder)) == {s.name for s in statement.subjects}

    (folder / "extra.py").write_text("import os")
    with pytest.raises(ProvenanceError, match=r"not in the signed manifest 'extra.py'") as caught:
        verify_model_files(statement, folder)
    assert caught.value.name == "extra.py"
    (folder / "extra.py").unlink()

    (folder / "config.json").rename(folder / "config.yaml")
    with pytest.raises(ProvenanceError, match=r"missing signed file.*'config.json'.*config.yaml"):
        verify_model_files(statement, folder)
    (folder / "config.yaml").rename(folder / "config.json")

    model = bytearray((folder / "model.onnx").read_bytes())
    model[len(model) // 2] ^= 1
    (folder / "model.onnx").write_bytes(bytes(model))
    with pytest.raises(ProvenanceError, match=r"'model.onnx' has sha256") as caught:
        verify_model_files(statement, folder)
    assert caught.value.name == "model.onnx"


def test_swapped_files_fail_naming_the_first(folder: Path) -> None:
    statement = build_statement(subjects_from_folder(folder), predicate())
    files = {
        "assets/labels.txt": folder / "config.json",
        "config.json": folder / "assets" / "labels.txt",
        "model.onnx": folder / "model.onnx",
    }
    with pytest.raises(ProvenanceError, match=r"'assets/labels.txt' has sha256"):
        verify_model_files(statement, files)


def test_a_symbolic_link_in_a_model_folder_is_refused(folder: Path) -> None:
    (folder / "link").symlink_to(folder / "config.json")
    with pytest.raises(ProvenanceError, match="symbolic link"):
        subjects_from_folder(folder)


def test_a_statement_round_trips_and_rejects_what_is_not_one(folder: Path) -> None:
    statement = build_statement(subjects_from_folder(folder), predicate())
    assert Statement.from_bytes(statement.canonical_bytes()) == statement
    data = statement.to_json()
    dup = dict(data, subject=data["subject"] + data["subject"][:1])
    for bad, reason in [
        (dict(data, _type="https://in-toto.io/Statement/v0.1"), "_type"),
        (dict(data, subject=[]), "no subject"),
        (dup, "appears twice"),
        (dict(data, subject=[{"name": "m", "digest": {"sha512": "00"}}]), "sha256 must be"),
        (dict(data, predicate=[]), "predicate is not"),
    ]:
        with pytest.raises(ProvenanceError, match=reason):
            Statement.from_json(bad)
