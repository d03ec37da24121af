"""Covenant's model server vs ``mlflow models serve`` on the same sklearn model.

Both serve a LogisticRegression fitted on sklearn's digits (same data, same seed): ours
as ONNX on onnxruntime over OIP, MLflow's as a pyfunc model with ``--env-manager
local`` from its own venv (``registry_vs_mlflow.ensure_mlflow``). One load generator
drives both: ``--callers`` concurrent asyncio callers on one aiohttp session, single-row
requests, for ``--seconds`` after a warm-up. Target: ours at least 5 times MLflow's throughput.

Usage: .venv/bin/python bench/model_server_vs_mlflow.py [--callers 16] [--seconds 10] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from registry_vs_mlflow import DEFAULT_MLFLOW_PYTHON, base_env, ensure_mlflow, free_port

TARGET_RATIO = 5.0
TRAIN = """
import sys, warnings
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
warnings.simplefilter("ignore")
x, y = load_digits(return_X_y=True)
model = LogisticRegression(max_iter=200, random_state=0).fit(x.astype("float32"), y)
"""


def _ours_model(folder: Path) -> tuple[Path, str]:
    scope: dict[str, Any] = {}
    exec(TRAIN, scope)  # the very code MLflow's side runs
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    onx = convert_sklearn(
        scope["model"],
        initial_types=[("pixels", FloatTensorType([None, 64]))],
        options={id(scope["model"]): {"zipmap": False}},
        target_opset=17,
    )
    path = folder / "model.onnx"
    path.write_bytes(onx.SerializeToString())
    return path, "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def _mlflow_model(python: Path, folder: Path) -> Path:
    target = folder / "mlflow-model"
    code = TRAIN + f"import mlflow.sklearn\nmlflow.sklearn.save_model(model, {str(target)!r})\n"
    subprocess.run([str(python), "-c", code], check=True, timeout=600)
    return target


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited {process.returncode} before ready")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} not ready after {timeout}s")


async def _drive(url: str, body: bytes, callers: int, seconds: float) -> dict[str, float]:
    """aiohttp, not httpx, as the generator: on a small machine httpx's per-request cost
    bounds the fast side long before the server does."""
    import aiohttp

    latencies: list[float] = []
    errors = 0
    headers = {"content-type": "application/json"}
    connector = aiohttp.TCPConnector(limit=callers)
    async with aiohttp.ClientSession(connector=connector) as client:

        async def caller(until: float, record: bool) -> None:
            nonlocal errors
            while time.perf_counter() < until:
                started = time.perf_counter()
                async with client.post(url, data=body, headers=headers) as answer:
                    await answer.read()
                    ok = answer.status == 200
                if not ok:
                    errors += 1
                elif record:
                    latencies.append(time.perf_counter() - started)

        warm = time.perf_counter() + min(2.0, seconds / 4)
        await asyncio.gather(*(caller(warm, False) for _ in range(callers)))
        started = time.perf_counter()
        await asyncio.gather(*(caller(started + seconds, True) for _ in range(callers)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    count = len(latencies)
    return {
        "requests": count,
        "errors": errors,
        "throughput_rps": count / elapsed,
        "p50_ms": 1000 * latencies[count // 2] if count else float("nan"),
        "p99_ms": 1000 * latencies[min(count - 1, int(count * 0.99))] if count else float("nan"),
    }


def main(argv: Sequence[str] | None = None) -> int:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--callers", type=int, default=16)
    cli.add_argument("--seconds", type=float, default=10.0)
    cli.add_argument("--mlflow-python", type=Path, default=DEFAULT_MLFLOW_PYTHON)
    cli.add_argument("--json", action="store_true", help="print the results as JSON")
    args = cli.parse_args(argv)
    row = [float(i % 16) for i in range(64)]
    results: dict[str, Any] = {"callers": args.callers, "seconds": args.seconds}
    results["mlflow_version"] = ensure_mlflow(args.mlflow_python)
    with tempfile.TemporaryDirectory(prefix="serve-bench-") as tmp:
        folder = Path(tmp)
        onnx_path, digest = _ours_model(folder)
        mlflow_path = _mlflow_model(args.mlflow_python, folder)
        ours = subprocess.Popen(
            [sys.executable, "-m", "covenant.model_server", "--model-id", "digits:1.0.0",
             "--model", str(onnx_path), "--digest", digest, "--env", "sandbox", "--warmup"],
            stdout=subprocess.PIPE, env=base_env(),
        )  # fmt: skip
        port = free_port()
        mlflow_bin = args.mlflow_python.parent / "mlflow"
        # MLflow starts its HTTP server (uvicorn/gunicorn) by name: its venv goes first
        mlflow_env = base_env()
        mlflow_env["PATH"] = f"{mlflow_bin.parent}:{mlflow_env.get('PATH', '')}"
        log = Path(tempfile.gettempdir()) / "serve-bench-mlflow.log"
        theirs = subprocess.Popen(
            [str(mlflow_bin), "models", "serve", "-m", str(mlflow_path), "--env-manager",
             "local", "--host", "127.0.0.1", "-p", str(port)],
            env=mlflow_env, stdout=subprocess.DEVNULL, stderr=log.open("wb"),
        )  # fmt: skip
        try:
            assert ours.stdout is not None
            base = ours.stdout.readline().decode().strip().removeprefix("READY ")
            _wait_ready(f"http://127.0.0.1:{port}/ping", theirs)
            oip = {
                "inputs": [{"name": "pixels", "shape": [1, 64], "datatype": "FP32", "data": row}]
            }
            results["covenant"] = asyncio.run(
                _drive(f"{base}/v2/models/digits/infer", json.dumps(oip).encode(),
                       args.callers, args.seconds)
            )  # fmt: skip
            results["mlflow"] = asyncio.run(
                _drive(f"http://127.0.0.1:{port}/invocations",
                       json.dumps({"inputs": [row]}).encode(), args.callers, args.seconds)
            )  # fmt: skip
        finally:
            for process in (ours, theirs):
                process.terminate()
                process.wait(timeout=30)
    ratio = results["covenant"]["throughput_rps"] / max(results["mlflow"]["throughput_rps"], 1e-9)
    results["throughput_ratio"] = ratio
    results["target_met"] = ratio >= TARGET_RATIO
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for side in ("covenant", "mlflow"):
            r = results[side]
            print(f"{side:9} {r['throughput_rps']:9.1f} req/s  p50 {r['p50_ms']:7.2f} ms  "
                  f"p99 {r['p99_ms']:7.2f} ms  errors {r['errors']}")  # fmt: skip
        verdict = "met" if results["target_met"] else "NOT met"
        print(f"ratio {ratio:.1f}x (target {TARGET_RATIO}x): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
