"""What the router adds to a request: one model server, the router in front of it.

One ``python -m covenant.model_server --env sandbox --warmup`` serves the digits
model of ``bench/model_server_vs_mlflow.py``; the router runs in a process of its own
(as in ``covenant up``: plain asyncio, one arm of weight 100 on that server). An
open-loop generator sends single-row OIP requests at ``--rate`` per second, alternating
one direct, one through the router, so both paths see the same machine at the same
moment and the server sees ``--rate`` in all. Target: the router adds at most 1 ms p99.

Open loop: request ``k`` is due at ``start + k / rate`` and is sent then whatever the
earlier ones are doing, and its latency runs from that scheduled time, not from when
it was actually sent. A generator that waited for answers (or measured from its own
late send) would slow down exactly when the server does and hide the queueing
(coordinated omission). How late the generator itself sends is reported as ``lag``.

Usage: .venv/bin/python bench/router_overhead.py [--rate 1000] [--seconds 10] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from model_server_vs_mlflow import _ours_model
from registry_vs_mlflow import base_env

TARGET_ADDED_P99_MS = 1.0
ROUTE = "digits"


# -- the router, in its own process ------------------------------------------------
async def _serve_router(upstream: str) -> None:
    """The router as ``covenant up`` runs it, until SIGTERM; prints ``READY <url>``."""
    from covenant.dataplane.router import Router, RouterArm, RouterTable

    router = Router()
    url = await router.start()
    arm = RouterArm("stable", 100, (upstream,), ROUTE, "1.0.0")
    router.set_table(RouterTable(route=ROUTE, arms=(arm,)))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print(f"READY {url}", flush=True)
    await stop.wait()
    await router.close()


def _ready(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line.startswith("READY "):
        raise RuntimeError(f"no READY line (exit {process.poll()}): {line!r}")
    return line.removeprefix("READY ")


# -- the open-loop generator -------------------------------------------------------
def _summary(latencies_s: list[float], errors: int) -> dict[str, float]:
    ms = sorted(1000.0 * v for v in latencies_s)
    n = len(ms)

    def q(p: float) -> float:
        return ms[min(n - 1, int(n * p))] if n else float("nan")

    return {
        "requests": n,
        "errors": errors,
        "p50_ms": q(0.50),
        "p90_ms": q(0.90),
        "p99_ms": q(0.99),
        "p999_ms": q(0.999),
        "max_ms": ms[-1] if n else float("nan"),
    }


async def _drive(
    urls: dict[str, str], body: bytes, rate: float, seconds: float, warmup: float
) -> dict[str, Any]:
    """Send on schedule, alternating the paths; answers are awaited by their own
    tasks, never by the schedule. The first ``warmup`` seconds are not recorded (new
    connections, first requests)."""
    import aiohttp

    paths = list(urls)
    latencies: dict[str, list[float]] = {p: [] for p in paths}
    errors = dict.fromkeys(paths, 0)
    lag: list[float] = []
    headers = {"content-type": "application/json"}
    timeout = aiohttp.ClientTimeout(total=10)
    sessions = {  # one pool per path, unbounded: open loop must not queue in the client
        p: aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout)
        for p in paths
    }
    total = int(rate * (warmup + seconds))
    recorded_from = int(rate * warmup)
    pending: set[asyncio.Task[None]] = set()

    async def one(k: int, path: str, due: float) -> None:
        try:
            async with sessions[path].post(urls[path], data=body, headers=headers) as answer:
                await answer.read()
                ok = answer.status == 200
        except (aiohttp.ClientError, TimeoutError):
            ok = False
        if k < recorded_from:
            return
        if ok:
            latencies[path].append(time.perf_counter() - due)
        else:
            errors[path] += 1

    gc.collect()
    gc.disable()  # the samples are floats: no cycles to collect, no pauses mid-run
    try:
        start = time.perf_counter() + 0.05
        k = 0
        while k < total:
            now = time.perf_counter()
            while k < total and (due := start + k / rate) <= now:
                if k >= recorded_from:
                    lag.append(now - due)
                task = asyncio.create_task(one(k, paths[k % len(paths)], due))
                pending.add(task)
                task.add_done_callback(pending.discard)
                k += 1
            if k < total:
                await asyncio.sleep(max(0.0, start + k / rate - time.perf_counter()))
        await asyncio.gather(*pending)
    finally:
        gc.enable()
        for session in sessions.values():
            await session.close()
    result: dict[str, Any] = {p: _summary(latencies[p], errors[p]) for p in paths}
    lag.sort()
    result["lag_p99_ms"] = 1000.0 * lag[int(len(lag) * 0.99)] if lag else float("nan")
    return result


# -- the run -----------------------------------------------------------------------
def _measure(rate: float, seconds: float, warmup: float, loop: str) -> dict[str, Any]:
    row = [float(i % 16) for i in range(64)]
    oip = {"inputs": [{"name": "pixels", "shape": [1, 64], "datatype": "FP32", "data": row}]}
    with tempfile.TemporaryDirectory(prefix="router-bench-") as tmp:
        model, digest = _ours_model(Path(tmp))
        server = subprocess.Popen(
            [sys.executable, "-m", "covenant.model_server", "--model-id", "digits:1.0.0",
             "--model", str(model), "--digest", digest, "--env", "sandbox", "--warmup"],
            stdout=subprocess.PIPE, text=True, env=base_env(),
        )  # fmt: skip
        router: subprocess.Popen[str] | None = None
        try:
            upstream = _ready(server)
            router = subprocess.Popen(
                [sys.executable, __file__, "--router-for", upstream, "--router-loop", loop],
                stdout=subprocess.PIPE, text=True, env=base_env(),
            )  # fmt: skip
            front = _ready(router)
            urls = {
                "direct": f"{upstream}/v2/models/{ROUTE}/infer",
                "router": f"{front}/v2/models/{ROUTE}/infer",
            }
            return asyncio.run(_drive(urls, json.dumps(oip).encode(), rate, seconds, warmup))
        finally:
            for process in (router, server):
                if process is not None:
                    process.terminate()
                    process.wait(timeout=30)


def main(argv: Sequence[str] | None = None) -> int:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--rate", type=float, default=1000.0, help="requests/s, both paths")
    cli.add_argument("--seconds", type=float, default=10.0, help="measured seconds")
    cli.add_argument("--warmup", type=float, default=2.0, help="unrecorded seconds first")
    cli.add_argument("--json", action="store_true", help="print the results as JSON")
    cli.add_argument(
        "--router-loop",
        choices=("asyncio", "uvloop"),
        default="asyncio",
        help="the router's event loop (covenant up: asyncio)",
    )
    cli.add_argument("--router-for", help=argparse.SUPPRESS)  # the router child
    args = cli.parse_args(argv)
    if args.router_for:
        if args.router_loop == "uvloop":
            import uvloop

            uvloop.run(_serve_router(args.router_for))
        else:
            asyncio.run(_serve_router(args.router_for))
        return 0
    results: dict[str, Any] = {"rate_rps": args.rate, "seconds": args.seconds}
    results["router_loop"] = args.router_loop
    results.update(_measure(args.rate, args.seconds, args.warmup, args.router_loop))
    direct, routed = results["direct"], results["router"]
    results["added_p50_ms"] = routed["p50_ms"] - direct["p50_ms"]
    results["added_p99_ms"] = routed["p99_ms"] - direct["p99_ms"]
    results["target_added_p99_ms"] = TARGET_ADDED_P99_MS
    results["target_met"] = results["added_p99_ms"] <= TARGET_ADDED_P99_MS
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for path in ("direct", "router"):
            r = results[path]
            print(f"{path:7} {r['requests']:7d} ok  {r['errors']:4d} errors  "
                  f"p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms  "
                  f"max {r['max_ms']:7.2f} ms")  # fmt: skip
        verdict = "met" if results["target_met"] else "NOT met"
        print(f"added   p50 {results['added_p50_ms']:+.2f} ms  p99 "
              f"{results['added_p99_ms']:+.2f} ms (target ≤ {TARGET_ADDED_P99_MS} ms): "
              f"{verdict}; generator lag p99 {results['lag_p99_ms']:.2f} ms")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
