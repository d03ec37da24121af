"""``python -m covenant.model_server``: check a model, load it, serve it over OIP.

The model server process's composition root: the argument parser, the onnxruntime
session and the uvicorn host around ``covenant.dataplane.server``'s checks and ASGI
app. It lives outside the data plane's folder because hosting HTTP is presentation
(as ``platform.py`` is the platform's root); the data plane stays framework-free.

Exit codes: killed by the signal after a graceful shutdown on SIGTERM/SIGINT (uvicorn
re-raises it, so a supervisor sees -15), 2 for bad arguments, and
``REFUSED_EXIT`` (78) when the model is refused, after one JSON line on stderr
``{"refused": "<code>", "reason": "..."}``. When ready it prints
``READY http://127.0.0.1:PORT`` on stdout (the supervisor waits for that line), so
``--port 0`` lets the OS pick a free port.

``--samples-bus URL --sample-rate R --route NAME --deploy-id ID`` publishes a share
``R`` of answered rows to the drift samples topic
(``covenant.dataplane.server.sampling``); the rate is 0 (off) unless given, and then
no bus is opened and nothing is imported for it. On a graceful shutdown queued
samples are flushed (a few seconds at most) before exit.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from covenant.dataplane.server.loading import (
    ENVS,
    REFUSED_EXIT,
    LoadedModelInfo,
    ModelRefusedError,
    check_model,
    refusal_line,
)

if TYPE_CHECKING:
    from covenant.dataplane.server.metrics import ServerMetrics
    from covenant.dataplane.server.sampling import SamplePublisher

__all__ = ["main", "parser"]

_FLUSH_S = 3.0  # within the supervisor's 5 s grace, after uvicorn's connection drain


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:  # NaN fails too
        raise argparse.ArgumentTypeError(f"{text!r} is not a rate between 0 and 1")
    return value


def parser() -> argparse.ArgumentParser:
    """The command line, with the refusal contract in its help."""
    cli = argparse.ArgumentParser(
        prog="python -m covenant.model_server",
        description=(
            "Serve one ONNX model over the Open Inference Protocol (KServe v2 REST) "
            "after checking its digest and, in staging and prod, its signed manifest "
            "and watermark."
        ),
        epilog=(
            f"A refused model exits {REFUSED_EXIT} after printing one JSON line "
            '{"refused": CODE, "reason": ...} on stderr; codes: digest_mismatch, '
            "unsigned, untrusted_signer, signature_invalid, subject_mismatch, "
            "watermark_missing, watermark_mismatch, unreadable. When ready it prints "
            "'READY http://HOST:PORT' on stdout."
        ),
    )
    cli.add_argument("--model-id", required=True, help="family:version")
    cli.add_argument("--model", required=True, type=Path, help="the ONNX file to serve")
    cli.add_argument("--digest", required=True, help="expected sha256:<hex> of the model")
    cli.add_argument("--env", required=True, choices=ENVS)
    cli.add_argument("--manifest", type=Path, help="the DSSE envelope (.dsse.json)")
    cli.add_argument(
        "--trusted-key",
        action="append",
        type=Path,
        default=[],
        help="PEM public key of a trusted manifest signer (repeatable)",
    )
    cli.add_argument("--host", default="127.0.0.1")
    cli.add_argument("--port", type=int, default=0, help="0: the OS picks one")
    cli.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    cli.add_argument("--warmup", action="store_true", help="run one zero inference before ready")
    drift = cli.add_argument_group("drift samples")
    drift.add_argument(
        "--samples-bus",
        metavar="URL",
        help="the log to publish sampled rows to: sqlite:///path or kafka://host:port",
    )
    drift.add_argument(
        "--sample-rate",
        type=_rate,
        default=0.0,
        metavar="R",
        help="share of answered rows published, 0..1, drawn per row (default 0: off)",
    )
    drift.add_argument("--route", help="the route this server answers for (with --samples-bus)")
    drift.add_argument("--deploy-id", help="the deployment it belongs to (with --samples-bus)")
    return cli


def _check_sampling(cli: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse (exit 2) a sampling configuration that could not publish."""
    if args.sample_rate > 0 and not args.samples_bus:
        cli.error("--sample-rate needs --samples-bus")
    if not args.samples_bus:
        return
    missing = [f for f, v in (("--route", args.route), ("--deploy-id", args.deploy_id)) if not v]
    if missing:
        cli.error(f"--samples-bus needs {' and '.join(missing)}")
    from covenant.bus import open_bus
    from covenant.errors import ConfigError

    try:
        open_bus(args.samples_bus)  # builds the bus object only: no file, no connection
    except (ConfigError, ImportError) as exc:
        cli.error(f"--samples-bus: {exc}")


def _load(args: argparse.Namespace) -> object:
    manifest = args.manifest.read_bytes() if args.manifest else None
    keys = [p.read_bytes() for p in args.trusted_key]
    return check_model(
        model_id=args.model_id,
        env=args.env,
        model_path=args.model,
        artifact_digest=args.digest,
        manifest=manifest,
        trusted_keys=keys,
    )


async def _serve(args: argparse.Namespace, info: object) -> None:
    import onnxruntime as ort
    import uvicorn

    from covenant.dataplane.server.app import ModelServerApp
    from covenant.dataplane.server.metrics import ServerMetrics

    assert isinstance(info, LoadedModelInfo)
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(
        str(info.path), sess_options=options, providers=["CPUExecutionProvider"]
    )
    metrics = ServerMetrics(info.name, info.version)
    sampler = _sampler(args, info, session, metrics)
    app = ModelServerApp(info, session, metrics, sampler=sampler)

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            await super().shutdown(sockets)
            if sampler is not None:  # uvicorn re-raises the signal once serve returns
                await asyncio.to_thread(sampler.close, _FLUSH_S)

    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        loop="none",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=10,
    )
    server = Server(config)
    if sampler is not None:
        sampler.start()
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task
            return
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    if args.warmup:
        app.warm_up()
    app.ready = True
    print(f"READY http://{args.host}:{port}", flush=True)
    await task


def _sampler(
    args: argparse.Namespace, info: LoadedModelInfo, session: Any, metrics: ServerMetrics
) -> SamplePublisher | None:
    """The sample publisher the flags ask for; None when sampling is off."""
    if not args.samples_bus or args.sample_rate <= 0:
        return None
    from covenant.dataplane.server.sampling import SamplePublisher

    outputs = session.get_outputs()
    return SamplePublisher(
        bus_url=args.samples_bus,
        rate=args.sample_rate,
        route=args.route,
        deploy_id=args.deploy_id,
        model_id=info.model_id,
        prediction_output=outputs[0].name if outputs else None,
        metrics=metrics,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server; returns the process exit code."""
    cli = parser()
    args = cli.parse_args(argv)
    _check_sampling(cli, args)
    try:
        info = _load(args)
    except ModelRefusedError as exc:
        print(refusal_line(exc), file=sys.stderr, flush=True)
        return REFUSED_EXIT
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        import uvloop

        uvloop.run(_serve(args, info))
    except ImportError:
        asyncio.run(_serve(args, info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
