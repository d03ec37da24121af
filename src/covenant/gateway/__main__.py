"""``python -m covenant.gateway``: the HTTP gateway as its own process."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from covenant.errors import CovenantError
from covenant.gateway.config import GatewayConfig
from covenant.gateway.server import DEFAULT_HOST, DEFAULT_PORT, serve
from covenant.settings import Settings


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the address, read the settings from the environment, serve."""
    parser = argparse.ArgumentParser(
        prog="python -m covenant.gateway",
        description="Covenant's HTTP gateway over the log and stores named by "
        "COVENANT_BUS, COVENANT_STORE and COVENANT_BLOBS (or COVENANT_HOME).",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to listen on")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--no-access-log", action="store_true", help="do not log requests")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = Settings.from_env()
        serve(
            settings,
            host=args.host,
            port=args.port,
            config=GatewayConfig.from_settings(settings),
            access_log=not args.no_access_log,
        )
    except CovenantError as exc:
        logging.getLogger("covenant.gateway").error("%s", exc)
        sys.exit(1)


if __name__ == "__main__":
    main()
