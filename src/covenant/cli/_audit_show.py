"""How ``covenant audit`` shows its work: a progress bar on a terminal, and the
verification result for people (or as JSON)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from fastavro.read import block_reader
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from covenant.audit.results import Progress as Advance
from covenant.audit.results import VerifyResult
from covenant.cli._support import err, out


@contextmanager
def progress(total: int | None, enabled: bool) -> Iterator[Advance | None]:
    """A rich progress bar on a terminal; nothing when piped or with --json."""
    if not enabled or not err.is_terminal:
        yield None
        return
    columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("verifying", total=total)
        yield lambda n: bar.advance(task, n)


def file_records(path: Path) -> int | None:
    """How many records an export says it holds, for the progress bar's total."""
    try:
        with path.open("rb") as fo:
            return int(block_reader(fo).metadata.get("covenant.records", ""))
    except Exception:  # only a progress total; verification reports a bad file
        return None


def report(result: VerifyResult, json_out: bool) -> None:
    """Print the result; exit 1 when verification failed."""
    if json_out:
        print(json.dumps(result.to_dict(), indent=2))
    elif result.ok:
        root = result.root_hash.hex() if result.root_hash else "-"
        out.print(
            f"[green]verified[/green]: {result.records:,} records under {result.checkpoints:,} "
            f"signed checkpoints; tree size {result.tree_size:,}, root {root}"
            + (
                f"; {result.pending:,} records pending the next checkpoint"
                if result.pending
                else ""
            )
        )
    else:
        d = result.discrepancy
        assert d is not None
        where = d.where()
        err.print(f"[red]FAILED[/red]{' at ' + where if where else ''}: {d.reason}")
        err.print(
            f"verified before the failure: {result.records:,} records, "
            f"{result.checkpoints:,} checkpoints"
        )
    if not result.ok:
        raise typer.Exit(1)
