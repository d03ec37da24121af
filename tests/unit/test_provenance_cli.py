"""``covenant verify bundle``: exit 0 with a summary, or 1 with the reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from covenant.cli._app import app
from covenant.signing import LocalKeySigner
from provenance_support import make_bundle


@pytest.fixture
async def setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    keys = {n: LocalKeySigner.generate(tmp_path / f"{n}.pem") for n in ("manifest", "audit")}
    bundle, folder, _ = await make_bundle(tmp_path, keys)
    bundle_file = tmp_path / "digits.bundle.json"
    bundle_file.write_bytes(bundle)
    public = tmp_path / "manifest.pub.pem"
    public.write_bytes(keys["manifest"].public_key_pem())
    return bundle_file, public, folder


def test_a_good_bundle_verifies(setup: tuple[Path, Path, Path]) -> None:
    bundle, public, folder = setup
    runner = CliRunner()
    done = runner.invoke(app, ["verify", "bundle", str(bundle), "--public-key", str(public)])
    assert done.exit_code == 0, done.output
    assert "bundle verified" in done.output
    assert "digits:1.2.0" in done.output
    assert "3 event(s) proven" in done.output
    files = [
        "--file",
        str(folder / "model.onnx"),
        "--file",
        str(folder / "config.json"),
        "--file",
        f"assets/labels.txt={folder / 'assets' / 'labels.txt'}",
    ]
    args = ["verify", "bundle", str(bundle), "--public-key", str(public), "--json"]
    done = runner.invoke(app, [*args, *files])
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report["ok"] is True
    assert sorted(report["files"]) == ["assets/labels.txt", "config.json", "model.onnx"]
    done = runner.invoke(app, [*args, "--file", str(folder)])
    assert done.exit_code == 0, done.output


def test_a_changed_model_file_fails_with_the_reason(setup: tuple[Path, Path, Path]) -> None:
    bundle, public, folder = setup
    (folder / "model.onnx").write_bytes((folder / "model.onnx").read_bytes() + b"\x00")
    runner = CliRunner()
    args = ["verify", "bundle", str(bundle), "--public-key", str(public), "--file", str(folder)]
    done = runner.invoke(app, args)
    assert done.exit_code == 1
    assert "bundle does NOT verify" in done.output
    assert "'model.onnx' has sha256" in done.output
    done = runner.invoke(app, [*args, "--json"])
    assert done.exit_code == 1
    assert json.loads(done.stdout) == {
        "ok": False,
        "reason": json.loads(done.stdout)["reason"],
        "file": "model.onnx",
    }


def test_the_wrong_key_or_a_missing_file_fails(
    setup: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    bundle, _, _ = setup
    other = tmp_path / "other.pub.pem"
    other.write_bytes(LocalKeySigner.generate(tmp_path / "other.pem").public_key_pem())
    runner = CliRunner()
    done = runner.invoke(app, ["verify", "bundle", str(bundle), "--public-key", str(other)])
    assert done.exit_code == 1
    assert "not the trusted key" in done.output
    missing = tmp_path / "nope.json"
    done = runner.invoke(app, ["verify", "bundle", str(missing), "--public-key", str(other)])
    assert done.exit_code == 2
    assert "cannot read the bundle" in done.output
