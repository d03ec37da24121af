"""Running the gateway on uvicorn: inside a host process, or as its own process.

``run_gateway`` serves an app over resources the caller opened, until ``stop`` is
set; it is what ``covenant up`` runs beside the workers, sharing their log and
stores. uvicorn's own signal handling is switched off there: the host owns
SIGTERM/SIGINT and sets ``stop``, and every part drains the same way. ``serve`` is
the standalone process (``python -m covenant.gateway``, ``covenant gateway``): it
opens the resources named by the settings and runs ``run_gateway`` with stop
signals installed. It listens on loopback unless told otherwise: until Kernel mTLS
lands, the actor header is taken on trust, so exposing it is a decision to make.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Generator

import uvicorn

from covenant.blobs import open_blobs
from covenant.blobs.protocol import BlobStore
from covenant.bus import open_bus
from covenant.bus.protocol import Bus
from covenant.errors import CovenantError
from covenant.events.codec import Codec
from covenant.gateway.app import create_app
from covenant.gateway.config import GatewayConfig
from covenant.settings import Settings
from covenant.store import open_store
from covenant.store.protocol import ReadStore

log = logging.getLogger("covenant.gateway")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8750  # the port COVENANT_GATEWAY names by default
_GRACE_S = 10


class _HostedServer(uvicorn.Server):
    """uvicorn, leaving signals to the process that hosts it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def run_gateway(
    *,
    bus: Bus,
    store: ReadStore,
    blobs: BlobStore,
    codec: Codec,
    stop: asyncio.Event,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    sock: socket.socket | None = None,
    config: GatewayConfig | None = None,
    access_log: bool = False,
) -> None:
    """Serve the gateway until ``stop`` is set, then drain in-flight requests
    (at most ``_GRACE_S`` seconds).

    Args:
        sock: an already bound socket to serve on instead of ``host:port``
            (tests bind port 0 to get a free one).
        access_log: log every request at INFO; off by default, since it costs more
            than a read-model lookup does.

    Raises:
        CovenantError: the server could not start (port in use, log unreachable).
    """
    app = create_app(bus=bus, store=store, blobs=blobs, codec=codec, config=config)
    server = _HostedServer(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,
            access_log=access_log,
            timeout_graceful_shutdown=_GRACE_S,
        )
    )

    async def stop_when_asked() -> None:
        await stop.wait()
        server.should_exit = True

    stopper = asyncio.create_task(stop_when_asked(), name="gateway-stop")
    try:
        await server.serve(sockets=[sock] if sock is not None else None)
    except SystemExit as exc:  # uvicorn exits the process when start-up fails
        raise CovenantError(
            f"the gateway could not start on {host}:{port}; the log above says why"
        ) from exc
    finally:
        stopper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await stopper


def serve(
    settings: Settings,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    config: GatewayConfig | None = None,
    access_log: bool = True,
) -> None:
    """Run the gateway as a process until SIGTERM or SIGINT.

    Opens the log, the read store and the artifact store named by ``settings``,
    and closes them after the last request drained.
    """
    from covenant.events.contract import default_codec
    from covenant.runtime.service import install_stop_signals

    async def main() -> None:
        stop = asyncio.Event()
        install_stop_signals(stop)
        async with (
            open_bus(settings.bus_url) as bus,
            open_store(settings.store_url) as store,
            open_blobs(settings.blobs_url) as blobs,
        ):
            log.info("gateway on http://%s:%d (docs at /docs)", host, port)
            await run_gateway(
                bus=bus,
                store=store,
                blobs=blobs,
                codec=default_codec(),
                stop=stop,
                host=host,
                port=port,
                config=config,
                access_log=access_log,
            )

    asyncio.run(main())
