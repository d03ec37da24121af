"""``python -m covenant.dataplane.server``: check a model, load it, serve it over OIP.

Exit codes: killed by the signal after a graceful shutdown on SIGTERM/SIGINT (uvicorn
re-raises it, so a supervisor sees -15), 2 for bad arguments, and
``REFUSED_EXIT`` (78) when the model is refused, after one JSON line on stderr
``{"refused": "<code>", "reason": "..."}``. When ready it prints
``READY http://127.0.0.1:PORT`` on stdout (the supervisor waits for that line), so
``--port 0`` lets the OS pick a free port.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from covenant.dataplane.server.loading import (
    ENVS,
    REFUSED_EXIT,
    ModelRefusedError,
    check_model,
    refusal_line,
)

__all__ = ["main", "parser"]


def parser() -> argparse.ArgumentParser:
    """The command line, with the refusal contract in its help."""
    cli = argparse.ArgumentParser(
        prog="python -m covenant.dataplane.server",
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
    return cli


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
    from covenant.dataplane.server.loading import LoadedModelInfo
    from covenant.dataplane.server.metrics import ServerMetrics

    assert isinstance(info, LoadedModelInfo)
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(
        str(info.path), sess_options=options, providers=["CPUExecutionProvider"]
    )
    app = ModelServerApp(info, session, ServerMetrics(info.name, info.version))
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
    server = uvicorn.Server(config)
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server; returns the process exit code."""
    args = parser().parse_args(argv)
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
