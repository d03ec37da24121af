"""``covenant events`` and ``covenant schemas``: the log's records and the Avro
contract, for people and for scripts (``--json``)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from covenant.cli._support import BusOption, JsonOption, err, fail, open_log, out, run
from covenant.errors import ContractError
from covenant.events.catalog import MESSAGE_TYPES, message_type
from covenant.events.codec import parse_document
from covenant.events.contract import check, default_codec, schema_root, write_current
from covenant.topics import ALL_TOPICS, TopicKind, topic_named

events_app = typer.Typer(help="Read and write records on the log.", no_args_is_help=True)
schemas_app = typer.Typer(help="The Avro contract files.", no_args_is_help=True)


@events_app.command("tail")
def events_tail(
    ctx: typer.Context,
    topic: Annotated[
        list[str] | None, typer.Option("--topic", "-t", help="topic name; repeat; default all")
    ] = None,
    from_beginning: Annotated[bool, typer.Option(help="start at offset 0, not the end")] = False,
    follow: Annotated[bool, typer.Option(help="keep waiting for new records")] = True,
    limit: Annotated[int, typer.Option(help="stop after this many records; 0 = no limit")] = 0,
    bus: BusOption = None,
    json_out: JsonOption = False,
) -> None:
    """Print records decoded, one per line (JSON lines with --json)."""
    codec = default_codec()
    try:
        chosen = [topic_named(t) for t in topic] if topic else list(ALL_TOPICS)
    except KeyError as exc:
        raise fail(f"{exc.args[0]}", 2) from exc

    async def go() -> None:
        async with open_log(ctx, bus) as log:
            await log.ensure_topics(chosen)
            start = {}
            if not from_beginning:
                for t in chosen:
                    for p, end in (await log.end_offsets(t)).items():
                        start[(t.name, p)] = end
            seen = 0
            async for rec in log.read(chosen, follow=follow):
                if rec.offset < start.get((rec.topic, rec.partition), 0):
                    continue
                _print_record(rec, codec, json_out)
                seen += 1
                if limit and seen >= limit:
                    return

    with contextlib.suppress(KeyboardInterrupt):
        run(go())


def _print_record(rec: Any, codec: Any, json_out: bool) -> None:
    where = f"{rec.topic}/{rec.partition}@{rec.offset}"
    if topic_named(rec.topic).kind is TopicKind.EXPORT:  # JSON for outside tools
        document = json.loads(rec.value)
        if json_out:
            print(json.dumps({"position": where, "record": document}))
        else:
            out.print(f"[dim]{where}[/dim] {json.dumps(document, sort_keys=True)}")
        return
    try:
        _, value = codec.decode_dict(rec.value)
    except ContractError as exc:
        if json_out:
            print(json.dumps({"position": where, "error": str(exc)}))
        else:
            out.print(f"[red]{where} undecodable:[/red] {exc}")
        return
    if json_out:
        print(json.dumps({"position": where, "record": value}, default=_json_default))
        return
    meta = value.pop("meta")
    out.print(
        f"[dim]{meta['occurredAt']:%Y-%m-%d %H:%M:%S.%f}[/dim] [bold]{meta['type']}[/bold] "
        f"[cyan]{meta['subject']}[/cyan] by {meta['actor']} [dim]{where}[/dim]"
    )
    out.print("  " + json.dumps(value, default=_json_default, sort_keys=True))


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__}")


@events_app.command("publish")
def events_publish(
    ctx: typer.Context,
    type_name: Annotated[
        str,
        typer.Argument(
            metavar="TYPE", help=f"one of: {', '.join(sorted(m.TYPE for m in MESSAGE_TYPES))}"
        ),
    ],
    document: Annotated[
        Path, typer.Argument(help="JSON file with the record's body fields; - for stdin")
    ] = Path("-"),
    subject: Annotated[
        str, typer.Option(help="entity the record is about (partition key)", show_default=False)
    ] = "",
    actor: Annotated[str, typer.Option(help="who asks; default $USER")] = "",
    bus: BusOption = None,
    json_out: JsonOption = False,
) -> None:
    """Validate a JSON document against the schema and publish it with fresh metadata.

    Example: echo '{"family":"vit","version":"1.0.0","codeRef":"git@x#abc",
    "artifactId":"sha256:…"}' | covenant events publish model.register --subject model:vit:1.0.0
    """
    try:
        model = message_type(type_name)
    except KeyError as exc:
        raise fail(f"{exc.args[0]}", 2) from exc
    if not subject:
        raise fail("--subject is required: the entity this record is about", 2)
    text = sys.stdin.read() if str(document) == "-" else document.read_text()
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise fail(f"the document is not JSON: {exc}", 1) from exc
    if not isinstance(body, dict) or "meta" in body:
        raise fail("give a JSON object of body fields; metadata is added here", 1)
    meta = {
        "eventId": "0",
        "type": model.TYPE,
        "occurredAt": "1970-01-01T00:00:00Z",
        "producer": "covenant-cli",
        "actor": actor or os.environ.get("USER", "unknown"),
        "subject": subject,
        "correlationId": "0",
    }
    try:
        parse_document(model, json.dumps({"meta": meta, **body}))
    except ContractError as exc:
        raise fail(f"invalid {model.TYPE}: {exc}", 1) from exc
    message = model.create(
        subject=subject, actor=meta["actor"], producer="covenant-cli", **_by_name(model, body)
    )
    codec = default_codec()

    async def go() -> Any:
        async with open_log(ctx, bus) as log:
            await log.ensure_topics(ALL_TOPICS)
            (position,) = await log.publish([codec.outgoing(message)])
            return position

    position = run(go())
    result = {
        "eventId": message.meta.event_id,
        "topic": position.topic,
        "partition": position.partition,
        "offset": position.offset,
    }
    if json_out:
        print(json.dumps(result))
    else:
        out.print(
            f"published {model.TYPE} {message.meta.event_id} at "
            f"{position.topic}/{position.partition}@{position.offset}"
        )


def _by_name(model: Any, body: dict[str, Any]) -> dict[str, Any]:
    """Validated body fields keyed by Python name (the document uses Avro names)."""
    probe = model.model_validate(
        {
            "meta": {
                "eventId": "0",
                "type": model.TYPE,
                "occurredAt": "1970-01-01T00:00:00Z",
                "producer": "-",
                "actor": "-",
                "subject": "-",
                "correlationId": "0",
            },
            **body,
        }
    )
    return {k: getattr(probe, k) for k in model.model_fields if k != "meta"}


@schemas_app.command("write")
def schemas_write(
    root: Annotated[Path | None, typer.Option(help="schemas/avro folder")] = None,
) -> None:
    """Regenerate schemas/avro/current/*.avsc from the pydantic models."""
    changed = write_current(root or schema_root())
    out.print(f"{len(changed)} file(s) changed" + "".join(f"\n  {p}" for p in changed))


@schemas_app.command("check")
def schemas_check(
    root: Annotated[Path | None, typer.Option(help="schemas/avro folder")] = None,
    json_out: JsonOption = False,
) -> None:
    """Fail when current/ is stale or incompatible (backward or forward) with released/."""
    findings = check(root or schema_root())
    if json_out:
        print(json.dumps([f.__dict__ for f in findings], indent=2))
    else:
        for f in findings:
            err.print(f"[red]{f.schema}[/red]: {f.problem}")
        if not findings:
            out.print("schemas: current is fresh and compatible with released")
    if findings:
        raise typer.Exit(1)
