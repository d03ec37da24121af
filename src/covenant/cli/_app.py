"""The root of the ``covenant`` command: global options and the command groups.

Each group lives in its own module (``catalog``, ``events``, ``audit``, ``training``,
``trace``, ``finance``, ``verify``, ``demo``, ``platform``); this one only mounts them.
Settings are read once, here, into the command's context (``covenant.cli._support.settings``).
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from covenant import __version__
from covenant.cli import (
    demo,
    drift_live,  # noqa: F401 - adds show, alert, approve, signoff, report
    platform,
    trace,
)
from covenant.cli._support import out
from covenant.cli.audit import audit_app
from covenant.cli.catalog import artifacts_app, datasets_app, models_app
from covenant.cli.drift import drift_app
from covenant.cli.evaluation import eval_app
from covenant.cli.events import events_app, schemas_app
from covenant.cli.finance import finance_app
from covenant.cli.promotion import promotions_app
from covenant.cli.serving import serve_app
from covenant.cli.signer import signer_app
from covenant.cli.training import train_app
from covenant.cli.verify import verify_app
from covenant.settings import Settings

app = typer.Typer(
    help="Covenant: take a model from data to production safely, with an audit trail "
    "anyone can verify. Settings: COVENANT_HOME (default ~/.covenant), COVENANT_BUS "
    "(sqlite:///path or kafka://host:port; default the embedded log in COVENANT_HOME).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command()(demo.demo)
app.command()(platform.worker)
app.command()(platform.runner)
app.command()(platform.up)
app.command("gateway")(platform.gateway_command)
app.command()(platform.topics)
app.command("trace")(trace.trace)
app.add_typer(events_app, name="events")
app.add_typer(schemas_app, name="schemas")
app.add_typer(datasets_app, name="datasets")
app.add_typer(artifacts_app, name="artifacts")
app.add_typer(models_app, name="models")
app.add_typer(audit_app, name="audit")
app.add_typer(train_app, name="train")
app.add_typer(eval_app, name="eval")
app.add_typer(finance_app, name="finance")
app.add_typer(verify_app, name="verify")
app.add_typer(promotions_app, name="promotions")
app.add_typer(signer_app, name="signer")
app.add_typer(serve_app, name="serve")
app.add_typer(drift_app, name="drift")


def _version(value: bool) -> None:
    if value:
        out.print(f"covenant {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print version")
    ] = False,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="log what workers do")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    ctx.obj = Settings.from_env()


def main() -> None:
    """Console-script entry point."""
    app()
