"""How ``covenant train`` shows a job: the status table, the reproduction verdict,
and the lines a followed job prints as its events add up.

Everything here reads the gateway's ``TrainingJobDoc`` (camelCase JSON), so what
a person sees is what a script gets with ``--json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from rich.table import Table

ENDED = frozenset({"completed", "failed", "cancelled", "rejected"})


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value)


def checkpoints(doc: dict[str, Any]) -> list[tuple[int, int, str]]:
    """Every stored checkpoint: (attempt, step, artifact id), oldest first."""
    return [
        (attempt["attempt"], point["step"], point["artifactId"])
        for attempt in doc.get("attempts", [])
        for point in attempt.get("checkpoints", [])
    ]


def allocation_text(allocation: dict[str, Any] | None) -> str:
    if not allocation:
        return "-"
    gpus = (
        f", {allocation['accelerators']}x{allocation['accelerator']}"
        if allocation.get("accelerator")
        else ""
    )
    return f"{allocation['pool']} ({allocation['hardwareClass']}{gpus})"


def job_table(doc: dict[str, Any]) -> Table:
    """The job as a two-column table: what was asked, then what happened."""
    spec = doc.get("job") or {}
    table = Table(title=f"training job {doc['jobId']}", show_header=False, title_justify="left")
    table.add_column(style="cyan")
    table.add_column(overflow="fold")
    points = checkpoints(doc)
    rows: list[tuple[str, Any]] = [
        ("status", f"[bold]{doc['status']}[/bold]"),
        ("family", spec.get("modelFamily")),
        ("team", spec.get("team")),
        ("code", spec and f"{spec['codeRepo']}#{spec['codeCommit']}"),
        ("entrypoint", spec.get("entrypoint")),
        ("datasets", ", ".join(spec.get("datasetRefs", [])) or None),
        ("seed", spec.get("seed")),
        ("hyperparams", spec.get("hyperparams") or None),
        ("allocation", allocation_text(doc.get("allocation"))),
        ("attempt", doc.get("attempt") or None),
        ("last checkpoint", points and f"step {points[-1][1]} ({points[-1][2]})"),
        ("started", doc.get("startTs")),
        ("ended", doc.get("endTs")),
        ("reason", doc.get("reason")),
        ("metrics", doc.get("metrics") or None),
        ("artifacts", ", ".join(a["path"] for a in doc.get("artifactRefs", [])) or None),
        ("logs", doc.get("logsRef")),
        ("reproduces", spec.get("reproduces")),
    ]
    for refusal in doc.get("refusals", []):
        rows.append(("refused", f"{refusal.get('field') or '-'}: {refusal['message']}"))
    reproduction = doc.get("reproduction")
    if reproduction:
        rows.append(("identical", str(reproduction["identical"]).lower()))
    for name, value in rows:
        if value not in (None, "", [], {}):
            table.add_row(name, _text(value))
    return table


def differences_table(reproduction: dict[str, Any]) -> Table:
    """What differs between a job and its rerun: inputs, then output files."""
    table = Table(title="differences", title_justify="left")
    table.add_column("input or output", style="cyan")
    table.add_column("original", overflow="fold")
    table.add_column("rerun", overflow="fold")
    for difference in reproduction.get("differences", []):
        table.add_row(difference["field"], difference["original"], difference["rerun"])
    for path in reproduction.get("differingOutputs", []):
        table.add_row(f"output {path}", "bytes differ", "bytes differ")
    return table


@dataclass
class Follower:
    """Turns successive reads of one job into the lines that are news: a status
    change (with the pool and hardware class once allocated), each new checkpoint."""

    status: str | None = None
    seen: set[tuple[int, int]] = field(default_factory=set)

    def news(self, doc: dict[str, Any]) -> list[str]:
        lines = []
        status = doc["status"]
        if status != self.status:
            self.status = status
            lines.append(self._status_line(doc))
        for attempt, step, _ in checkpoints(doc):
            if (attempt, step) not in self.seen:
                self.seen.add((attempt, step))
                lines.append(f"checkpoint step {step} (attempt {attempt})")
        return lines

    @staticmethod
    def _status_line(doc: dict[str, Any]) -> str:
        status = doc["status"]
        if status == "allocated":
            return f"[bold]allocated[/bold] on {allocation_text(doc.get('allocation'))}"
        if status == "completed":
            metrics = doc.get("metrics") or {}
            shown = ", ".join(f"{k}={v:g}" for k, v in sorted(metrics.items()))
            return f"[bold green]completed[/bold green] {shown}".rstrip()
        if status in ("failed", "cancelled", "rejected"):
            return f"[bold red]{status}[/bold red]: {doc.get('reason') or '-'}"
        if status in ("started", "resumed"):
            return f"[bold]{status}[/bold] attempt {doc.get('attempt')}"
        return f"[bold]{status}[/bold]"
