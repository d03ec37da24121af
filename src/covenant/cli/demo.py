"""``covenant demo``: the main job, rendered for people (or as JSON)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from covenant.cli._support import JsonOption, out, run


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
    from covenant.cli._demo_flow import DemoResult, run_demo

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
