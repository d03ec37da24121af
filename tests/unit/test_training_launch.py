"""The launcher's refusals, run as the executors run it (a subprocess): it fails with
a reason and a result file, and its output never quotes the artifact store's URL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from covenant.training.executors import RunSpec
from covenant.training.progress import parse_lines

SPEC = RunSpec(
    job_id="job",
    attempt=1,
    code_repo="/nonexistent/repo",
    code_commit="a" * 40,
    entrypoint="train:main",
)


def _launch(spec_json: str, run_dir: Path, blobs: str | None) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if k != "COVENANT_BLOBS"}
    if blobs is not None:
        env["COVENANT_BLOBS"] = blobs
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "covenant.training.launch",
            "--spec-json",
            spec_json,
            "--run-dir",
            str(run_dir),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def _reason(output: str) -> str:
    (failed,) = [p for p in parse_lines(output) if p.kind == "failed"]
    return str(failed.data["reason"])


def test_a_spec_that_does_not_parse_fails_and_leaves_a_result(tmp_path: Path) -> None:
    code, output = _launch("{not json", tmp_path, str(tmp_path / "blobs"))
    assert code == 1
    assert "not a run spec" in _reason(output)
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["exit_code"] == 1
    assert result["cpu_seconds"] >= 0


def test_a_missing_artifact_store_is_named_by_its_variable(tmp_path: Path) -> None:
    code, output = _launch(SPEC.to_json(), tmp_path, None)
    assert code == 1
    assert "COVENANT_BLOBS is not set" in _reason(output)


def test_the_artifact_store_url_never_reaches_the_log(tmp_path: Path) -> None:
    url = "s3://bucket/prefix?token=hunter2"  # an unknown option: open_blobs quotes the URL
    code, output = _launch(SPEC.to_json(), tmp_path, url)
    assert code == 1
    assert "<COVENANT_BLOBS>" in _reason(output)
    assert "hunter2" not in output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]  # work folder gone


def test_an_entrypoint_that_is_not_module_colon_function_is_refused(tmp_path: Path) -> None:
    spec = RunSpec(**{**SPEC.__dict__, "entrypoint": "train.py"})
    code, output = _launch(spec.to_json(), tmp_path, str(tmp_path / "blobs"))
    assert code == 1
    assert "module:function" in _reason(output)
