"""The ``covenant`` command.

Every command reads the same settings (``COVENANT_HOME``, ``COVENANT_BUS``) and
accepts ``--bus`` to override the log. Output is for people on a terminal; add
``--json`` where a machine reads it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlparse

import typer
from prometheus_client import CollectorRegistry
from rich.table import Table

from covenant import __version__
from covenant.audit.cli import audit_app
from covenant.bus import open_bus
from covenant.catalog_cli import artifacts_app, datasets_app, models_app
from covenant.cli_support import BusOption, JsonOption, bus_url, err, out, run
from covenant.errors import CovenantError
from covenant.events_cli import events_app, schemas_app
from covenant.platform import (
    Part,
    audit_part,
    gateway_part,
    open_platform,
    projector_part,
    run_parts,
    workers_part,
)
from covenant.runtime.service import install_stop_signals, serve_metrics
from covenant.settings import Settings
from covenant.topics import ALL_TOPICS
from covenant.workers import WORKER_NAMES

app = typer.Typer(
    help="Covenant: take a model from data to production safely, with an audit trail "
    "anyone can verify. Settings: COVENANT_HOME (default ~/.covenant), COVENANT_BUS "
    "(sqlite:///path or kafka://host:port; default the embedded log in COVENANT_HOME).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(events_app, name="events")
app.add_typer(schemas_app, name="schemas")
app.add_typer(datasets_app, name="datasets")
app.add_typer(artifacts_app, name="artifacts")
app.add_typer(models_app, name="models")
app.add_typer(audit_app, name="audit")


def _version(value: bool) -> None:
    if value:
        out.print(f"covenant {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print version")
    ] = False,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="log what workers do")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@app.command()
def demo(
    json_out: JsonOption = False,
    home: Annotated[
        Path | None,
        typer.Option(help="keep the demo's log here (default: a fresh temporary folder)"),
    ] = None,
) -> None:
    """Run the main job on embedded defaults: store data and a model, register them
    with lineage (bad requests and garbage included), show the timeline and the
    lineage, replay the log, and verify it against signed audit checkpoints."""
    from covenant.demo import DemoResult, run_demo

    folder = home or Path(tempfile.mkdtemp(prefix="covenant-demo-"))

    async def go() -> DemoResult:
        return await run_demo(folder)

    with out.status("running the demo flow…"):
        result = run(go())
    if json_out:
        print(json.dumps(result.as_dict(), indent=2, default=str))
        return
    table = Table(title=f"Covenant demo — the log at {result.log}", show_lines=False)
    for column in ("#", "type", "subject", "what happened", "caused by"):
        table.add_column(column, overflow="fold")
    number = {entry.event_id: i for i, entry in enumerate(result.timeline, 1) if entry.event_id}
    for i, entry in enumerate(result.timeline, 1):
        cause = f"#{number[entry.caused_by]}" if entry.caused_by in number else ""
        table.add_row(str(i), entry.type, entry.subject, entry.summary, cause)
    out.print(table)
    lineage = result.lineage
    out.print("\n[bold]Lineage of vision-transformer:1.0.0[/bold] (from the read models)")
    for dataset in lineage.get("datasets", []):
        steps = ", ".join(t["name"] for t in dataset.get("transformations", []))
        out.print(
            f"  dataset {dataset['dataset_id']} ← {', '.join(dataset['source_refs'])}"
            f" via ({steps}) checksum {dataset['checksum'][:19]}…"
        )
    for code in lineage.get("code_refs", []):
        out.print(f"  code    {code}")
    for artifact in lineage.get("artifacts", []):
        out.print(f"  bytes   {artifact['artifact_id'][:23]}… {artifact.get('name', '')}")
    audit = (
        f"{result.audit_records} records verified under {result.audit_checkpoints} signed "
        f"checkpoints (root {result.audit_root[:16]}…, key {result.audit_key})"
        if result.audit_ok
        else "[red]FAILED[/red]"
    )
    out.print(f"\nAudit trail: {audit}")
    verdict = "identical" if result.replay_identical else "[red]DIFFERENT[/red]"
    out.print(
        f"\nReplayed the log into a fresh store: {result.rows_rebuilt} rows, {verdict}."
        f"\nSee it all again: COVENANT_HOME={folder} covenant events tail --from-beginning"
    )
    if not (result.replay_identical and result.audit_ok):
        raise typer.Exit(1)


@app.command()
def worker(
    name: Annotated[str, typer.Argument(help=f"one of: {', '.join(WORKER_NAMES)}")],
    bus: BusOption = None,
    instance: Annotated[str, typer.Option(help="distinct per running copy (Kafka)")] = "0",
    metrics_port: Annotated[int, typer.Option(help="serve /metrics here; 0 = off")] = 0,
    batch_size: Annotated[int, typer.Option(help="records per atomic commit")] = 500,
) -> None:
    """Run one worker until SIGTERM/SIGINT; the batch in hand commits first."""
    from covenant.runtime.worker import RunnerOptions

    registry = CollectorRegistry()
    if name not in WORKER_NAMES:
        err.print(f"[red]error:[/red] unknown worker {name!r}; known: {', '.join(WORKER_NAMES)}")
        raise typer.Exit(2)
    options = RunnerOptions(batch_size=batch_size, instance=instance)
    _serve([workers_part([name], registry=registry, options=options)], bus, metrics_port, registry)


@app.command()
def up(
    bus: BusOption = None,
    metrics_port: Annotated[int, typer.Option(help="serve /metrics here; 0 = off")] = 0,
    gateway: Annotated[
        bool, typer.Option(help="serve the HTTP gateway at COVENANT_GATEWAY's host:port")
    ] = True,
) -> None:
    """Create the topics and run the whole platform in this process until stopped:
    every worker, the read-model projector, the audit worker and the HTTP gateway."""
    registry = CollectorRegistry()
    parts = [workers_part(registry=registry), projector_part, audit_part]
    if gateway:
        where = urlparse(Settings.from_env().gateway_url)
        parts.append(gateway_part(host=where.hostname or "127.0.0.1", port=where.port or 80))
    _serve(parts, bus, metrics_port, registry)


@app.command("gateway")
def gateway_command(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8750,
    access_log: Annotated[bool, typer.Option("--access-log/--no-access-log")] = True,
) -> None:
    """Serve only the HTTP gateway (OpenAPI docs at /docs) until SIGTERM/SIGINT;
    workers run elsewhere ('covenant up --no-gateway' or 'covenant worker')."""
    from covenant.gateway import GatewayConfig, serve

    try:
        serve(
            Settings.from_env(),
            host=host,
            port=port,
            config=GatewayConfig.from_env(),
            access_log=access_log,
        )
    except CovenantError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc


def _serve(
    parts: list[Part], bus: str | None, metrics_port: int, registry: CollectorRegistry
) -> None:
    serve_metrics(metrics_port, registry)
    settings = Settings.from_env()
    if bus:
        settings = settings.model_copy(update={"bus_url": bus})

    async def go() -> None:
        stop = asyncio.Event()
        install_stop_signals(stop)
        async with open_platform(settings) as platform:
            await run_parts(platform, parts, stop)

    run(go())


@app.command()
def topics(bus: BusOption = None, json_out: JsonOption = False) -> None:
    """List topics with their end offsets and each consumer group's lag."""

    async def go() -> list[dict[str, Any]]:
        rows = []
        async with open_bus(bus_url(bus)) as log:
            await log.ensure_topics(ALL_TOPICS)
            groups = await log.groups()
            for topic in ALL_TOPICS:
                ends = await log.end_offsets(topic)
                lags = {}
                for group in groups:
                    done = await log.committed(group=group, topic=topic)
                    if done:
                        lags[group] = sum(max(0, e - done.get(p, 0)) for p, e in ends.items())
                rows.append(
                    {
                        "topic": topic.name,
                        "kind": topic.kind.value,
                        "partitions": topic.partitions,
                        "endOffsets": ends,
                        "records": sum(ends.values()),
                        "lag": lags,
                    }
                )
        return rows

    rows = run(go())
    if json_out:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title="Covenant topics")
    for column in ("topic", "kind", "partitions", "records", "group lag"):
        table.add_column(column)
    for row in rows:
        lag = ", ".join(f"{g}={n}" for g, n in row["lag"].items()) or "-"
        table.add_row(row["topic"], row["kind"], str(row["partitions"]), str(row["records"]), lag)
    out.print(table)


def main() -> None:
    """Console-script entry point."""
    app()
