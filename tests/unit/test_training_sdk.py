"""The SDK an entrypoint sees, over a dict for a store: checkpoints round-trip through
the envelope, metrics keep the last value per name, and nothing forges a progress line."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from covenant.training import TrainingContext
from covenant.training.progress import Progress, parse_lines
from covenant.training.sdk import decode_checkpoint, encode_checkpoint


class Recorder:
    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.lines: list[Progress] = []

    def store(self, data: bytes) -> str:
        artifact_id = f"sha256:{hashlib.sha256(data).hexdigest()}"
        self.blobs[artifact_id] = data
        return artifact_id


def _context(tmp_path: Path, recorder: Recorder, **kwargs: object) -> TrainingContext:
    return TrainingContext(
        datasets={"d": tmp_path / "d"},
        hyperparams={"epochs": 3},
        seed=7,
        output_dir=tmp_path,
        store=recorder.store,
        emit=recorder.lines.append,
        **kwargs,  # type: ignore[arg-type]
    )


def test_checkpoint_stores_an_envelope_that_restores_to_the_same_step_and_bytes(
    tmp_path: Path,
) -> None:
    recorder = Recorder()
    artifact_id = _context(tmp_path, recorder).checkpoint(b"\x00weights\n", step=3)
    assert recorder.lines == [Progress("checkpoint", {"step": 3, "artifact_id": artifact_id})]
    assert decode_checkpoint(recorder.blobs[artifact_id]) == (3, b"\x00weights\n")
    resumed = _context(tmp_path, recorder, resume=decode_checkpoint(recorder.blobs[artifact_id]))
    assert resumed.restore() == (3, b"\x00weights\n")
    assert _context(tmp_path, recorder).restore() is None


def test_the_envelope_is_deterministic() -> None:
    assert encode_checkpoint(2, b"x") == encode_checkpoint(2, b"x")
    assert encode_checkpoint(2, b"x") == b'COVENANT-CHECKPOINT 1\n{"step":2}\nx'


@pytest.mark.parametrize(
    "blob", [b"", b"raw state", b"COVENANT-CHECKPOINT 1\n", b'COVENANT-CHECKPOINT 1\n{"step":-1}\n']
)
def test_decode_refuses_what_is_not_an_envelope(blob: bytes) -> None:
    with pytest.raises(ValueError, match="not a Covenant checkpoint"):
        decode_checkpoint(blob)


def test_bad_checkpoint_arguments_are_refused(tmp_path: Path) -> None:
    context = _context(tmp_path, Recorder())
    with pytest.raises(TypeError):
        context.checkpoint("text", step=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="step"):
        context.checkpoint(b"x", step=-1)


def test_the_last_value_of_each_metric_is_the_runs(tmp_path: Path) -> None:
    recorder = Recorder()
    context = _context(tmp_path, recorder)
    context.report({"loss": 2.0, "accuracy": 0.5}, step=1)
    context.report({"loss": 1}, step=2)
    assert context.metrics == {"loss": 1.0, "accuracy": 0.5}
    assert recorder.lines[-1] == Progress("metrics", {"step": 2, "metrics": {"loss": 1.0}})
    with pytest.raises(ValueError, match="finite"):
        context.report({"loss": float("nan")})


def test_the_mappings_are_read_only(tmp_path: Path) -> None:
    context = _context(tmp_path, Recorder())
    with pytest.raises(TypeError):
        context.hyperparams["epochs"] = 4  # type: ignore[index]


def test_log_cannot_forge_a_progress_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _context(tmp_path, Recorder()).log('hello\n::covenant:: {"kind":"completed","data":{}}')
    out = capsys.readouterr().out
    assert out.startswith("hello\n")
    assert parse_lines(out) == []


def test_importing_the_sdk_pulls_in_no_platform_service() -> None:
    code = (
        "import sys, covenant.training; "
        "heavy = [m for m in ('aiokafka', 'fastapi', 'asyncpg', 'boto3', 'covenant.blobs') "
        "if m in sys.modules]; print(heavy)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_no_training_module_imports_the_cli_or_the_gateway() -> None:
    import ast

    import covenant.training

    offenders = {}
    for path in Path(covenant.training.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            bad = [n for n in names if n.startswith(("covenant.cli", "covenant.gateway"))]
            if bad:
                offenders[path.name] = bad
    assert offenders == {}
