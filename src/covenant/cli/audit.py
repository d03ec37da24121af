"""``covenant audit``: verify the trail, export it, prove records and checkpoints.

Every command exits non-zero on any failure and prints the first discrepancy, so
scripts and CI can gate on it; how a result is shown is in ``_audit_show``.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from covenant.audit.export import export as export_log
from covenant.audit.export import verify_file
from covenant.audit.proofs import (
    ConsistencyProof,
    InclusionProof,
    parse_proof,
    verify_consistency_proof,
    verify_inclusion_proof,
)
from covenant.audit.records import AuditError
from covenant.audit.results import VerifyResult
from covenant.audit.trail import load_trail
from covenant.audit.verify import verify_live
from covenant.audit.worker import audit_key_path
from covenant.bus.protocol import Position
from covenant.cli._audit_show import file_records, progress, report
from covenant.cli._support import (
    BusOption,
    JsonOption,
    err,
    fail,
    open_log,
    out,
    run,
    settings,
)
from covenant.errors import CovenantError
from covenant.events.contract import default_codec
from covenant.signing import LocalKeySigner
from covenant.topics import ALL_TOPICS

__all__ = ["audit_app"]

audit_app = typer.Typer(
    help="The verifiable audit trail: a signed Merkle tree over every record (RFC 9162).",
    no_args_is_help=True,
)


KeyOption = Annotated[
    Path | None,
    typer.Option(
        "--public-key",
        help="the audit signer's public key (PEM); default: this machine's audit key",
        show_default=False,
    ),
]


def _public_key(ctx: typer.Context, path: Path | None) -> bytes:
    """The trusted public key: ``--public-key``, else the local audit key's."""
    if path is not None:
        try:
            return path.read_bytes()
        except OSError as exc:
            raise fail(f"cannot read the public key {path}: {exc.strerror}") from exc
    key = audit_key_path(settings(ctx))
    if not key.exists():
        raise fail(f"no audit key at {key}; pass --public-key with the audit public key")
    try:
        return LocalKeySigner(key).public_key_pem()
    except CovenantError as exc:
        raise fail(str(exc)) from exc


@audit_app.command()
def verify(
    ctx: typer.Context,
    file: Annotated[
        Path | None, typer.Option("--file", help="an export file; default: the live log")
    ] = None,
    public_key: KeyOption = None,
    bus: BusOption = None,
    json_out: JsonOption = False,
) -> None:
    """Verify every record against the signed checkpoints; exit 1 at the first discrepancy.

    With --file, needs only the file and the public key. On the live log, records after
    the last checkpoint are reported as pending, not as a failure.
    """
    key = _public_key(ctx, public_key)
    if file is not None:
        if not file.is_file():
            raise fail(f"no such file: {file}", 2)
        with progress(file_records(file), not json_out) as advance:
            try:
                result = verify_file(file, key, codec=default_codec(), progress=advance)
            except AuditError as exc:
                raise fail(str(exc)) from exc
        report(result, json_out)
        return

    async def go() -> VerifyResult:
        async with open_log(ctx, bus) as log:
            await log.ensure_topics(ALL_TOPICS)
            total = 0
            for topic in ALL_TOPICS:
                total += sum((await log.end_offsets(topic)).values())
            with progress(total, not json_out) as advance:
                return await verify_live(
                    log, public_key_pem=key, codec=default_codec(), progress=advance
                )

    report(run(go()), json_out)


@audit_app.command()
def export(
    ctx: typer.Context,
    out_file: Annotated[Path, typer.Option("--out", help="the export file to write")],
    deflate: Annotated[
        bool, typer.Option("--deflate", help="compress blocks: smaller, slower to verify")
    ] = False,
    bus: BusOption = None,
    json_out: JsonOption = False,
) -> None:
    """Write every record up to the last signed checkpoint to one Avro file, in audit order."""

    async def go() -> Any:
        async with open_log(ctx, bus) as log:
            return await export_log(
                log, default_codec(), out_file, block_codec="deflate" if deflate else "null"
            )

    summary = run(go())
    result = {
        "path": str(summary.path),
        "records": summary.records,
        "treeSize": summary.tree_size,
        "rootHash": summary.root_hash.hex(),
    }
    if json_out:
        print(json.dumps(result))
    else:
        out.print(
            f"exported {summary.records:,} records (tree size {summary.tree_size:,}, root "
            f"{summary.root_hash.hex()}) to {summary.path}"
        )


def _target(text: str) -> str | Position:
    """An event id, or ``topic/partition/offset`` for a record without one (garbage)."""
    parts = text.rsplit("/", 2)
    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
        return Position(parts[0], int(parts[1]), int(parts[2]))
    return text


@audit_app.command()
def prove(
    ctx: typer.Context,
    target: Annotated[
        str | None,
        typer.Argument(
            metavar="EVENT_ID", help="event id (or topic/partition/offset) to prove included"
        ),
    ] = None,
    consistency: Annotated[
        tuple[int, int] | None,
        typer.Option(
            "--consistency", metavar="OLD NEW", help="prove checkpoint OLD is a prefix of NEW"
        ),
    ] = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="write the proof here, not to stdout")
    ] = None,
    bus: BusOption = None,
) -> None:
    """Write a self-contained JSON proof: inclusion of one record, or consistency of two
    checkpoints. Check it with 'covenant audit verify-proof'."""
    if (target is None) == (consistency is None):
        raise fail("give either EVENT_ID or --consistency OLD NEW", 2)

    async def go() -> InclusionProof | ConsistencyProof:
        async with open_log(ctx, bus) as log:
            trail = await load_trail(log, default_codec())
        if consistency is not None:
            return trail.prove_consistency(*consistency)
        assert target is not None
        return trail.prove_inclusion(_target(target))

    text = json.dumps(run(go()).to_json(), indent=2) + "\n"
    if out_file is None:
        print(text, end="")
    else:
        out_file.write_text(text)
        err.print(f"proof written to {out_file}")


@audit_app.command("verify-proof")
def verify_proof(
    ctx: typer.Context,
    proof_file: Annotated[Path, typer.Argument(help="a proof from 'covenant audit prove'")],
    public_key: KeyOption = None,
    json_out: JsonOption = False,
) -> None:
    """Check a proof with the public key alone; exit 1 if it does not hold."""
    key = _public_key(ctx, public_key)
    try:
        parsed = parse_proof(proof_file.read_bytes())
        if isinstance(parsed, InclusionProof):
            verify_inclusion_proof(parsed, key)
        else:
            verify_consistency_proof(parsed, key)
    except OSError as exc:
        raise fail(f"cannot read {proof_file}: {exc.strerror}", 2) from exc
    except AuditError as exc:
        if json_out:
            print(json.dumps({"ok": False, "reason": str(exc)}))
            raise typer.Exit(1) from exc
        raise fail(f"proof does NOT verify: {exc}") from exc
    if isinstance(parsed, InclusionProof):
        leaf, cp = parsed.leaf, parsed.checkpoint
        summary = (
            f"{leaf.event_id or 'the record'} at {leaf.where()} is leaf {leaf.index:,} of the "
            f"tree of size {cp.tree_size:,} signed by {cp.key_id} at {cp.signed_at.isoformat()}"
        )
    else:
        summary = (
            f"checkpoint {parsed.old.tree_size:,} is a prefix of checkpoint "
            f"{parsed.new.tree_size:,}, both signed by {parsed.new.key_id}"
        )
    if json_out:
        print(json.dumps({"ok": True, "summary": summary}))
    else:
        out.print(f"[green]proof verified[/green]: {summary}")


@audit_app.command("public-key")
def public_key_command(
    ctx: typer.Context,
) -> None:
    """Print the audit signer's public key (PEM): the one COVENANT_SIGNER names, else the
    dev key (created if there is none)."""
    from covenant.signing.config import open_signer

    async def read() -> bytes:
        async with open_signer(settings(ctx)) as signer:
            return signer.public_key_pem()

    try:
        pem = asyncio.run(read())
    except CovenantError as exc:
        raise fail(str(exc)) from exc
    print(pem.decode(), end="")


@audit_app.command()
def replay(
    ctx: typer.Context,
    until: Annotated[
        str, typer.Option(help="ISO 8601 time, e.g. 2026-11-23T12:00:00Z: the moment to rebuild")
    ],
    store: Annotated[
        str, typer.Option(help="a separate read store to fill, e.g. sqlite:///audit.sqlite3")
    ],
    bus: BusOption = None,
    json_out: JsonOption = False,
) -> None:
    """Rebuild the read models as they were at --until into a separate store, for an
    auditor to query; the platform's own store is not touched."""
    from datetime import UTC, datetime

    from covenant.store import open_store
    from covenant.store.projector import rebuild

    try:
        moment = datetime.fromisoformat(until)
    except ValueError as exc:
        raise fail(
            f"--until {until!r} is not an ISO 8601 time (e.g. 2026-11-23T12:00:00Z)"
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if store == settings(ctx).store_url:
        raise fail("--store names the platform's own read store; give a separate one")

    async def go() -> dict[str, Any]:
        async with open_log(ctx, bus) as log, open_store(store) as target:
            stats = await rebuild(bus=log, store=target, codec=default_codec(), until=moment)
            dump = await target.dump()
        return {
            "until": moment.isoformat(),
            "store": store,
            "applied": stats.applied,
            "rows": {table: len(rows) for table, rows in dump.items()},
        }

    result = run(go())
    if json_out:
        print(json.dumps(result, indent=2))
        return
    out.print(f"rebuilt the read models as of {result['until']} into {store}:")
    for table, count in result["rows"].items():
        out.print(f"  {table}: {count} rows")
