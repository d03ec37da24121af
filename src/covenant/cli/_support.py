"""What every ``covenant`` sub-command shares: consoles, the common options, and
turning our errors into one clear line and an exit status."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from covenant.bus import Bus, open_bus
from covenant.errors import CovenantError
from covenant.settings import Settings

out = Console()
err = Console(stderr=True)
T = TypeVar("T")

BusOption = Annotated[
    str | None, typer.Option("--bus", help="log URL; overrides COVENANT_BUS", show_default=False)
]
JsonOption = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def settings(ctx: typer.Context) -> Settings:
    """The settings this run of the command read once, at its root.

    Kept on the root context (``covenant.cli._app`` puts them there); a group
    invoked on its own, as tests do, reads them there on first use.
    """
    root = ctx.find_root()
    if not isinstance(root.obj, Settings):
        root.obj = Settings.from_env()
    return root.obj


# A one-shot command on a terminal says the broker is unreachable after this long
# (a worker, by contrast, waits for it as long as it takes).
CONNECT_TIMEOUT_S = 30.0


def open_log(ctx: typer.Context, bus: str | None) -> Bus:
    """The log of ``--bus`` or the settings, for a one-shot command: it gives up
    on an unreachable broker after ``CONNECT_TIMEOUT_S`` with one clear line."""
    return open_bus(bus_url(ctx, bus), connect_timeout_s=CONNECT_TIMEOUT_S)


def bus_url(ctx: typer.Context, bus: str | None) -> str:
    """``--bus`` if given, else the configured log."""
    return bus or settings(ctx).bus_url


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one error line; the caller raises the returned exit."""
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine, turning our errors into one clear line and exit status 1."""
    try:
        return asyncio.run(coro)
    except CovenantError as exc:
        raise fail(str(exc)) from exc
