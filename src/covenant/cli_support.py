"""What every ``covenant`` sub-command shares: consoles, the common options, and
turning our errors into one clear line and an exit status."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from covenant.errors import CovenantError
from covenant.settings import Settings

out = Console()
err = Console(stderr=True)
T = TypeVar("T")

BusOption = Annotated[
    str | None, typer.Option("--bus", help="log URL; overrides COVENANT_BUS", show_default=False)
]
JsonOption = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def bus_url(bus: str | None) -> str:
    """``--bus`` if given, else the configured log."""
    return bus or Settings.from_env().bus_url


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
