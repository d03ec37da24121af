"""Running the platform: ``covenant up``, ``worker``, ``runner``, ``gateway`` and
``topics``."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Annotated, Any
from urllib.parse import urlparse

import typer
from prometheus_client import CollectorRegistry
from rich.table import Table

from covenant.cli._support import BusOption, JsonOption, fail, open_log, out, run, settings
from covenant.errors import CovenantError
from covenant.platform import (
    WORKER_NAMES,
    Part,
    audit_part,
    gateway_part,
    open_platform,
    projector_part,
    promotion_clock_part,
    run_parts,
    runner_part,
    serving_part,
    workers_part,
)
from covenant.runtime.service import install_stop_signals, serve_metrics
from covenant.topics import ALL_TOPICS


def worker(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help=f"one of: {', '.join(WORKER_NAMES)}")],
    bus: BusOption = None,
    instance: Annotated[str, typer.Option(help="distinct per running copy (Kafka)")] = "0",
    metrics_port: Annotated[int, typer.Option(help="serve /metrics here; 0 = off")] = 0,
    batch_size: Annotated[int, typer.Option(help="records per atomic commit")] = 500,
) -> None:
    """Run one worker until SIGTERM/SIGINT; the batch in hand commits first."""
    from covenant.runtime.runner import RunnerOptions

    registry = CollectorRegistry()
    if name not in WORKER_NAMES:
        raise fail(f"unknown worker {name!r}; known: {', '.join(WORKER_NAMES)}", 2)
    options = RunnerOptions(batch_size=batch_size, instance=instance)
    _serve(
        ctx, [workers_part([name], registry=registry, options=options)], bus, metrics_port, registry
    )


def runner(
    ctx: typer.Context,
    bus: BusOption = None,
    metrics_port: Annotated[int, typer.Option(help="serve /metrics here; 0 = off")] = 0,
) -> None:
    """Run the training runner until SIGTERM/SIGINT: it starts the dispatched runs
    on this host's executors (local; Ray with COVENANT_RAY), watches them and
    reports what it sees. One per host that runs training; covenant up has one."""
    _serve(ctx, [runner_part()], bus, metrics_port, CollectorRegistry())


def up(
    ctx: typer.Context,
    bus: BusOption = None,
    metrics_port: Annotated[int, typer.Option(help="serve /metrics here; 0 = off")] = 0,
    gateway: Annotated[
        bool, typer.Option(help="serve the HTTP gateway at COVENANT_GATEWAY's host:port")
    ] = True,
    serve: Annotated[
        bool,
        typer.Option(
            help="run the serving agent: local model servers behind the router at "
            "COVENANT_ROUTER_URL (needs the serve extra)"
        ),
    ] = True,
) -> None:
    """Create the topics and run the whole platform in this process until stopped:
    every worker, the read-model projector, the audit worker, the training runner,
    the promotion clock, the serving agent and its router, and the HTTP gateway."""
    registry = CollectorRegistry()
    parts = [
        workers_part(registry=registry),
        projector_part,
        audit_part(),
        runner_part(),
        promotion_clock_part,
    ]
    if serve:
        parts.append(serving_part)
    if gateway:
        where = urlparse(settings(ctx).gateway_url)
        parts.append(gateway_part(host=where.hostname or "127.0.0.1", port=where.port or 80))
    _serve(ctx, parts, bus, metrics_port, registry)


def gateway_command(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8750,
    access_log: Annotated[bool, typer.Option("--access-log/--no-access-log")] = True,
) -> None:
    """Serve only the HTTP gateway (OpenAPI docs at /docs) until SIGTERM/SIGINT;
    workers run elsewhere ('covenant up --no-gateway' or 'covenant worker')."""
    from covenant.gateway import GatewayConfig, serve

    try:
        serve(
            settings(ctx),
            host=host,
            port=port,
            config=GatewayConfig.from_settings(settings(ctx)),
            access_log=access_log,
        )
    except CovenantError as exc:
        raise fail(f"{exc}", 1) from exc


def _serve(
    ctx: typer.Context,
    parts: list[Part],
    bus: str | None,
    metrics_port: int,
    registry: CollectorRegistry,
) -> None:
    serve_metrics(metrics_port, registry)
    config = settings(ctx)
    if bus:
        config = config.model_copy(update={"bus_url": bus})

    async def go() -> None:
        stop = asyncio.Event()
        install_stop_signals(stop)
        opened = asyncio.Event()

        async def serve() -> None:
            async with open_platform(config) as platform:
                opened.set()
                await run_parts(platform, parts, stop)

        serving = asyncio.create_task(serve())
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not opened.is_set():
            # Stopped while still opening (waiting for a broker that is down):
            # nothing has started, so nothing is left half-done by cancelling.
            serving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await serving
            return
        await serving  # running: the parts finish their batch and stop

    run(go())


def topics(ctx: typer.Context, bus: BusOption = None, json_out: JsonOption = False) -> None:
    """List topics with their end offsets and each consumer group's lag."""

    async def go() -> list[dict[str, Any]]:
        rows = []
        async with open_log(ctx, bus) as log:
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
