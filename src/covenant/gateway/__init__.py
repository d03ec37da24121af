"""The thin HTTP gateway: HTTP calls become commands on the log, queries are
answered from the read models (ARCHITECTURE.md §1).

``create_app`` builds the ASGI application over opened resources; ``run_gateway``
serves it on uvicorn inside a host process (``covenant up``); ``serve`` is the
standalone process (``python -m covenant.gateway``).
"""

from __future__ import annotations

from covenant.gateway.app import create_app
from covenant.gateway.config import GatewayConfig
from covenant.gateway.server import run_gateway, serve

__all__ = ["GatewayConfig", "create_app", "run_gateway", "serve"]
