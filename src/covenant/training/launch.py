"""The launcher every executor starts: one attempt of one training run, start to end.

Usage::

    COVENANT_BLOBS=<artifact store URL> python -m covenant.training.launch \\
        --spec-json '<RunSpec.to_json()>' [--run-dir DIR] [--executor local]

In order, it validates the spec; makes an ephemeral work folder (inside ``--run-dir``
when given, else in the system's temporary folder); checks the code out at exactly
its commit; fetches every dataset, refusing to go on when its bytes are not the ones
the registry recorded; fetches the checkpoint to resume from; prints ``started``
with the run record; imports the entrypoint and calls it with a
``TrainingContext``; uploads what it wrote to its output folder and prints
``completed``. Any failure prints ``failed`` with a reason and exits 1; the work
folder is removed in every case.

With ``--run-dir`` it also writes ``result.json`` there as the last thing it does:
``{"exit_code": int, "cpu_seconds": float, "gpu_seconds": float | null}`` (busy
GPU-seconds from NVML, ``covenant.training.gpu``; null where NVML cannot measure).
An executor that finds the process gone without that file knows the run was killed
from outside (``LOST``).

The artifact store's URL comes from the environment, never the command line, and is
removed from the environment before the entrypoint runs; no line the launcher prints
contains it, nor any other environment variable.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import re
import resource
import shutil
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from covenant.errors import CovenantError
from covenant.training.executors.protocol import RunSpec
from covenant.training.gpu import GpuMeter, load_nvml
from covenant.training.progress import Progress, format_line
from covenant.training.record import run_record
from covenant.training.sdk import TrainingContext, decode_checkpoint
from covenant.training.workspace import (
    COMMIT,
    BlobPortal,
    checkout,
    fetch_dataset,
    upload_outputs,
)

__all__ = ["BLOBS_ENV", "RESULT_FILE", "main"]

BLOBS_ENV = "COVENANT_BLOBS"
RESULT_FILE = "result.json"
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_ENTRYPOINT = re.compile(rf"({_NAME}(?:\.{_NAME})*):({_NAME})")


class _Termination:
    """Set by the SIGTERM handler, so the launcher can tell a cancel (clean up and
    exit quietly) from an entrypoint that called ``sys.exit`` (a failure)."""

    requested = False

    def install(self) -> None:
        def handler(signum: int, frame: FrameType | None) -> None:
            self.requested = True
            raise SystemExit(128 + signum)

        signal.signal(signal.SIGTERM, handler)


def _emit(progress: Progress) -> None:
    sys.stdout.write(format_line(progress) + "\n")
    sys.stdout.flush()


def _validate(spec: RunSpec) -> None:
    if COMMIT.fullmatch(spec.code_commit) is None:
        raise CovenantError(
            f"code_commit {spec.code_commit!r} is not a full 40-hex commit id "
            "(lowercase; branch and tag names are not accepted)"
        )
    if _ENTRYPOINT.fullmatch(spec.entrypoint) is None:
        raise CovenantError(f"entrypoint {spec.entrypoint!r} is not module:function")
    if spec.attempt < 1:
        raise CovenantError(f"attempt {spec.attempt} is not 1 or more")
    names = [d.name for d in spec.datasets]
    if len(set(names)) != len(names):
        raise CovenantError(f"dataset names repeat: {sorted(names)}")


def _load(code_dir: Path, entrypoint: str) -> Callable[[TrainingContext], Any]:
    module_name, _, function_name = entrypoint.partition(":")
    sys.path.insert(0, str(code_dir))
    importlib.invalidate_caches()
    module = importlib.import_module(module_name)
    function = getattr(module, function_name, None)
    if not callable(function):
        raise CovenantError(f"entrypoint {entrypoint!r}: {function_name} is not a function")
    return function  # type: ignore[no-any-return]


def _train(spec: RunSpec, executor: str, work: Path, blobs_url: str, stop: _Termination) -> None:
    with BlobPortal(blobs_url) as portal:
        code_dir = work / "code"
        commit = checkout(spec.code_repo, spec.code_commit, code_dir)
        datasets = {d.name: fetch_dataset(portal, d, work / "data") for d in spec.datasets}
        resume = None
        if spec.resume_from is not None:
            try:
                resume = decode_checkpoint(portal.get_bytes(spec.resume_from))
            except (ValueError, CovenantError) as exc:
                raise CovenantError(f"checkpoint {spec.resume_from}: {exc}") from exc
        record = run_record(spec, commit=commit, executor=executor, env=os.environ)
        _emit(Progress("started", {"record": record}))
        function = _load(code_dir, spec.entrypoint)
        output_dir = work / "output"
        output_dir.mkdir()
        context = TrainingContext(
            datasets=datasets,
            hyperparams=spec.hyperparams,
            seed=spec.seed,
            output_dir=output_dir,
            store=portal.put_bytes,
            executor=executor,
            workers=spec.workers,
            attempt=spec.attempt,
            resume=resume,
            emit=_emit,
        )
        os.chdir(code_dir)
        try:
            function(context)
        except SystemExit as exc:
            if stop.requested:
                raise
            raise CovenantError(f"the entrypoint called sys.exit({exc.code!r})") from exc
        outputs = upload_outputs(portal, output_dir)
        _emit(
            Progress(
                "completed",
                {"outputs": dict(outputs), "metrics": context.metrics, "record": record},
            )
        )


def _launch(spec_json: str, run_dir: Path | None, executor: str, stop: _Termination) -> int:
    blobs_url = os.environ.pop(BLOBS_ENV, "")

    def redact(text: str) -> str:
        return text.replace(blobs_url, f"<{BLOBS_ENV}>") if blobs_url else text

    def fail(reason: str) -> int:
        _emit(Progress("failed", {"reason": redact(reason)}))
        return 1

    try:
        spec = RunSpec.from_json(spec_json)
        _validate(spec)
    except (ValueError, CovenantError) as exc:
        return fail(str(exc))
    if not blobs_url:
        return fail(f"{BLOBS_ENV} is not set: the launcher needs the artifact store's URL")
    work = Path(tempfile.mkdtemp(prefix="work-", dir=run_dir))
    here = os.getcwd()
    try:
        _train(spec, executor, work, blobs_url, stop)
        return 0
    except CovenantError as exc:
        return fail(str(exc) if type(exc) is CovenantError else f"{type(exc).__name__}: {exc}")
    except Exception as exc:
        sys.stderr.write(redact(traceback.format_exc()))
        sys.stderr.flush()
        return fail(f"{type(exc).__name__}: {exc}")
    finally:
        os.chdir(here)
        shutil.rmtree(work, ignore_errors=True)


def _write_result(run_dir: Path, exit_code: int, gpu_seconds: float | None) -> None:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    result = {"exit_code": exit_code, "cpu_seconds": round(cpu, 3), "gpu_seconds": gpu_seconds}
    body = json.dumps(result, sort_keys=True)
    tmp = run_dir / f".{RESULT_FILE}.tmp"
    tmp.write_text(body + "\n", encoding="utf-8")
    os.replace(tmp, run_dir / RESULT_FILE)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one attempt; the process's exit status (0 only after ``completed``)."""
    parser = argparse.ArgumentParser(prog="python -m covenant.training.launch")
    parser.add_argument("--spec-json", required=True, help="the RunSpec, as RunSpec.to_json()")
    parser.add_argument("--run-dir", type=Path, help="where result.json and the work folder go")
    parser.add_argument("--executor", default="local", help="the executor kind, for the record")
    args = parser.parse_args(argv)
    stop = _Termination()
    stop.install()
    code = 1
    meter = GpuMeter(load_nvml()).start()
    try:
        code = _launch(args.spec_json, args.run_dir, args.executor, stop)
    except SystemExit as exc:  # SIGTERM: the work folder is gone, say nothing more
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        gpu_seconds = meter.stop()
        if args.run_dir is not None:
            with contextlib.suppress(OSError):
                _write_result(args.run_dir, code, gpu_seconds)
    return code


if __name__ == "__main__":
    sys.exit(main())
