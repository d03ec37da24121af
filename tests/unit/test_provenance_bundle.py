"""The offline provenance bundle verifies with nothing but itself and the manifest key."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from covenant.audit import InclusionProof
from covenant.provenance import (
    BUNDLE_FORMAT,
    ProvenanceError,
    build_statement,
    embed_watermark,
    sign_envelope,
    subjects_from_folder,
    verify_bundle,
)
from covenant.signing import LocalKeySigner
from provenance_support import make_bundle, predicate


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, LocalKeySigner]:
    return {
        name: LocalKeySigner.generate(tmp_path / f"{name}.pem")
        for name in ("manifest", "audit", "other")
    }


def edit(bundle: bytes, change: Any) -> bytes:
    data = json.loads(bundle)
    change(data)
    return json.dumps(data).encode()


async def test_a_good_bundle_verifies_with_its_files(
    tmp_path: Path, keys: dict[str, LocalKeySigner]
) -> None:
    bundle, folder, trail = await make_bundle(tmp_path, keys)
    assert json.loads(bundle)["format"] == BUNDLE_FORMAT == "covenant-provenance-bundle/1"
    report = verify_bundle(bundle, keys["manifest"].public_key_pem(), folder)
    assert report.model_id == "digits:1.2.0"
    assert report.signer_key_id == keys["manifest"].key_id
    assert report.audit_key_id == keys["audit"].key_id
    assert report.audit_key_trusted_by == "manifest"
    assert [e.event_id for e in report.events] == [leaf.event_id for leaf in trail.leaves]
    assert {e.type for e in report.events} == {"model.registered"}
    assert [e.subject for e in report.events] == [f"model:digits:1.{i}.0" for i in range(3)]
    assert report.checkpoints == (trail.latest,)
    assert set(report.files) == {"assets/labels.txt", "config.json", "model.onnx"}
    assert json.loads(json.dumps(report.to_json()))["ok"] is True
    # Without files, only the signed documents are checked.
    assert verify_bundle(bundle, keys["manifest"].public_key_pem()).files == {}


async def test_changed_or_renamed_model_files_fail(
    tmp_path: Path, keys: dict[str, LocalKeySigner]
) -> None:
    bundle, folder, _ = await make_bundle(tmp_path, keys)
    key = keys["manifest"].public_key_pem()
    config = folder / "config.json"
    original = config.read_bytes()
    config.write_bytes(original[:-1] + b" ")
    with pytest.raises(ProvenanceError, match=r"'config\.json' has sha256") as caught:
        verify_bundle(bundle, key, folder)
    assert caught.value.name == "config.json"
    config.write_bytes(original)
    config.rename(folder / "settings.json")
    with pytest.raises(ProvenanceError, match=r"missing signed file.*'config\.json'"):
        verify_bundle(bundle, key, folder)


async def test_a_watermarked_model_in_the_folder_passes(
    tmp_path: Path, keys: dict[str, LocalKeySigner]
) -> None:
    bundle, folder, _ = await make_bundle(tmp_path, keys)
    from covenant.provenance import Envelope

    envelope = Envelope.from_json(json.loads(bundle)["envelope"])
    served = tmp_path / "served.onnx"
    embed_watermark(folder / "model.onnx", served, envelope)
    report = verify_bundle(
        bundle,
        keys["manifest"].public_key_pem(),
        {"model.onnx": served} | {n: folder / n for n in ("config.json", "assets/labels.txt")},
    )
    assert "model.onnx" in report.files


async def test_an_envelope_re_signed_by_another_key_fails(
    tmp_path: Path, keys: dict[str, LocalKeySigner]
) -> None:
    bundle, _, _ = await make_bundle(tmp_path, keys)
    statement = build_statement(
        subjects_from_folder(tmp_path / "model"), predicate(audit_key_id=keys["audit"].key_id)
    )
    resigned = (await sign_envelope(statement, keys["other"])).to_json()
    key = keys["manifest"].public_key_pem()

    def swap_envelope(data: dict[str, Any]) -> None:
        data["envelope"] = resigned

    with pytest.raises(ProvenanceError, match="no signature by key"):
        verify_bundle(edit(bundle, swap_envelope), key)

    def swap_all(data: dict[str, Any]) -> None:
        data["envelope"] = resigned
        data["signer"] = {
            "keyId": keys["other"].key_id,
            "publicKeyPem": keys["other"].public_key_pem().decode(),
        }

    with pytest.raises(ProvenanceError, match="not the trusted key"):
        verify_bundle(edit(bundle, swap_all), key)


async def test_a_tampered_event_fails(tmp_path: Path, keys: dict[str, LocalKeySigner]) -> None:
    bundle, _, _ = await make_bundle(tmp_path, keys)
    key = keys["manifest"].public_key_pem()

    def change_json(data: dict[str, Any]) -> None:
        data["events"][1]["event"]["entry"]["status"] = "production"

    with pytest.raises(ProvenanceError, match="event 1: its event JSON is not the record"):
        verify_bundle(edit(bundle, change_json), key)

    def change_record(data: dict[str, Any]) -> None:
        raw = bytearray(base64.b64decode(data["events"][0]["record"]))
        raw[-1] ^= 1
        data["events"][0]["record"] = base64.b64encode(bytes(raw)).decode()

    with pytest.raises(ProvenanceError, match=r"event 0 is not proven.*not the ones this leaf"):
        verify_bundle(edit(bundle, change_record), key)

    def swap_records(data: dict[str, Any]) -> None:
        events = data["events"]
        events[0]["record"], events[1]["record"] = events[1]["record"], events[0]["record"]

    with pytest.raises(ProvenanceError, match="event 0 is not proven"):
        verify_bundle(edit(bundle, swap_records), key)


async def test_a_proof_for_another_checkpoint_fails(
    tmp_path: Path, keys: dict[str, LocalKeySigner]
) -> None:
    # Checkpoints after every leaf: sizes 1, 2, 3.
    bundle, _, trail = await make_bundle(tmp_path, keys, every=1)
    key = keys["manifest"].public_key_pem()
    assert sorted(trail.checkpoints) == [1, 2, 3]
    first = trail.leaves[0]
    older = InclusionProof(first, tuple(trail.tree.inclusion_proof(0, 1)), trail.checkpoints[1])

    def prove_against_older(data: dict[str, Any]) -> None:
        data["events"][0]["proof"] = older.to_json()

    with pytest.raises(ProvenanceError, match="not one of the bundle's"):
        verify_bundle(edit(bundle, prove_against_older), key)

    def add_older_checkpoint(data: dict[str, Any]) -> None:
        prove_against_older(data)
        data["checkpoints"].append(trail.checkpoints[1].to_json())

    assert len(verify_bundle(edit(bundle, add_older_checkpoint), key).checkpoints) == 2

    def wrong_checkpoint(data: dict[str, Any]) -> None:
        add_older_checkpoint(data)
        data["events"][0]["proof"]["checkpoint"] = trail.checkpoints[3].to_json()

    with pytest.raises(ProvenanceError, match=r"event 0 is not proven.*does not verify"):
        verify_bundle(edit(bundle, wrong_checkpoint), key)


async def test_the_audit_key_must_be_vouched_for(
    tmp_path: Path, keys: dict[str, LocalKeySigner]
) -> None:
    bundle, _, _ = await make_bundle(tmp_path, keys, vouch=False)
    key = keys["manifest"].public_key_pem()
    with pytest.raises(ProvenanceError, match="is not vouched for"):
        verify_bundle(bundle, key)
    report = verify_bundle(bundle, key, audit_public_key_pem=keys["audit"].public_key_pem())
    assert report.audit_key_trusted_by == "caller"
    with pytest.raises(ProvenanceError, match="is not the given"):
        verify_bundle(bundle, key, audit_public_key_pem=keys["other"].public_key_pem())


async def test_a_forged_checkpoint_or_a_swapped_audit_key_fails(
    tmp_path: Path, keys: dict[str, LocalKeySigner]
) -> None:
    bundle, _, _ = await make_bundle(tmp_path, keys)
    key = keys["manifest"].public_key_pem()

    def forge(data: dict[str, Any]) -> None:
        data["checkpoints"][0]["treeSize"] += 1

    with pytest.raises(ProvenanceError, match="checkpoint does not verify"):
        verify_bundle(edit(bundle, forge), key)

    def swap_audit(data: dict[str, Any]) -> None:
        other = keys["other"]
        data["audit"] = {"keyId": other.key_id, "publicKeyPem": other.public_key_pem().decode()}

    with pytest.raises(ProvenanceError, match="is not vouched for"):
        verify_bundle(edit(bundle, swap_audit), key)


@pytest.mark.parametrize(
    ("bundle", "reason"),
    [
        (b"not json", "not JSON"),
        (b'{"format": "other"}', "not a covenant-provenance-bundle/1"),
        (b'{"format": "covenant-provenance-bundle/1", "x": 1}', "does not define"),
        (b'{"format": "covenant-provenance-bundle/1"}', "no manifest signer public key"),
    ],
)
def test_what_is_not_a_bundle_fails(
    bundle: bytes, reason: str, keys: dict[str, LocalKeySigner]
) -> None:
    with pytest.raises(ProvenanceError, match=reason):
        verify_bundle(bundle, keys["manifest"].public_key_pem())
