"""``covenant finance``: what compute cost, by team, model or job, from the log.

The report reads ``covenant.evt.finance`` from the beginning and adds up the
``finance.chargeback`` records of one month. Money stays in integer cents until
it is printed: every job was rounded once when it was charged
(``covenant.training.accounting``), and a report never rounds again, so its
totals equal the sum of its records to the cent. Amounts in different currencies
are never added together: each currency gets its own rows and its own total.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.table import Table

from covenant.cli._support import BusOption, err, fail, open_log, out, run
from covenant.errors import ContractError
from covenant.events.contract import default_codec
from covenant.events.finance import ChargebackRecorded, UsageRecorded
from covenant.topics import FINANCE_EVENTS
from covenant.training.accounting import format_cents, plain

finance_app = typer.Typer(
    help="Compute usage and chargeback for Finance, read from the log.", no_args_is_help=True
)
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
TOTAL = "TOTAL"


class By(StrEnum):
    """What a report groups the month's charges by."""

    TEAM = "team"
    MODEL = "model"
    JOB = "job"


class Format(StrEnum):
    """How a report is printed: for people, spreadsheets or programs."""

    TABLE = "table"
    CSV = "csv"
    JSON = "json"


@dataclass
class Line:
    """One group of a report (or its total) in one currency."""

    key: str
    currency: str
    jobs: int = 0
    unit_hours: Decimal = Decimal(0)
    cost_cents: int = 0
    wall_seconds: float = 0.0
    gpu_seconds: float = 0.0
    teams: set[str] = field(default_factory=set)

    def add(self, charge: ChargebackRecorded, usage: UsageRecorded | None) -> None:
        self.jobs += 1
        self.unit_hours += Decimal(charge.unit_hours)
        self.cost_cents += charge.cost_cents
        self.teams.add(charge.team)
        if usage is not None:
            self.wall_seconds += usage.wall_seconds
            self.gpu_seconds += usage.measured_gpu_seconds or 0.0

    def document(self) -> dict[str, Any]:
        """The line for machines: exact strings and integer cents."""
        return {
            "key": self.key,
            "currency": self.currency,
            "jobs": self.jobs,
            "unitHours": plain(self.unit_hours),
            "costCents": self.cost_cents,
            "cost": format_cents(self.cost_cents),
            "wallHours": round(self.wall_seconds / 3600, 6),
            "measuredGpuHours": round(self.gpu_seconds / 3600, 6),
        }


def key_of(charge: ChargebackRecorded, by: By) -> str:
    """The group a charge falls in."""
    if by is By.TEAM:
        return charge.team
    if by is By.MODEL:
        return charge.model_family
    return charge.job_id


def report(records: Iterable[object], *, month: str, by: By) -> tuple[list[Line], list[Line]]:
    """The month's lines, sorted by key then currency, and a total per currency.

    A job is counted once: a second chargeback for a job id (which the training
    worker never writes) is ignored rather than billed twice.
    """
    charges: dict[str, ChargebackRecorded] = {}
    usage: dict[str, UsageRecorded] = {}
    for record in records:
        if isinstance(record, ChargebackRecorded) and record.month == month:
            charges.setdefault(record.job_id, record)
        elif isinstance(record, UsageRecorded):
            usage.setdefault(record.job_id, record)
    lines: dict[tuple[str, str], Line] = {}
    totals: dict[str, Line] = {}
    for charge in charges.values():
        key = (key_of(charge, by), charge.currency)
        lines.setdefault(key, Line(*key)).add(charge, usage.get(charge.job_id))
        total = totals.setdefault(charge.currency, Line(TOTAL, charge.currency))
        total.add(charge, usage.get(charge.job_id))
    return [lines[k] for k in sorted(lines)], [totals[c] for c in sorted(totals)]


def render_csv(lines: list[Line], totals: list[Line], by: By) -> str:
    """CSV with a header; the totals come last, keyed ``TOTAL``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([by.value, "currency", "jobs", "unit_hours", "cost_cents", "cost"])
    for line in [*lines, *totals]:
        d = line.document()
        writer.writerow(
            [d["key"], d["currency"], d["jobs"], d["unitHours"], d["costCents"], d["cost"]]
        )
    return buffer.getvalue()


def render_json(lines: list[Line], totals: list[Line], *, month: str, by: By) -> str:
    """One JSON document: the month, the grouping, the rows and a total per currency."""
    document = {
        "month": month,
        "by": by.value,
        "rows": [line.document() for line in lines],
        "totals": [line.document() for line in totals],
    }
    return json.dumps(document, indent=2)


def render_table(lines: list[Line], totals: list[Line], *, month: str, by: By) -> Table:
    """A rich table for a terminal, the totals in bold at the bottom."""
    table = Table(title=f"Compute chargeback, {month}, by {by.value}")
    table.add_column(by.value.capitalize())
    table.add_column("Jobs", justify="right")
    table.add_column("Unit-hours", justify="right")
    table.add_column("Measured GPU-hours", justify="right")
    table.add_column("Cost", justify="right")
    for line in lines:
        table.add_row(*_cells(line))
    table.add_section()
    for line in totals:
        table.add_row(*_cells(line), style="bold")
    return table


def _cells(line: Line) -> list[str]:
    d = line.document()
    return [
        d["key"],
        str(d["jobs"]),
        d["unitHours"],
        f"{d['measuredGpuHours']:g}",
        f"{d['cost']} {d['currency']}",
    ]


def check_month(month: str) -> str:
    """``month`` if it is ``YYYY-MM``; else an exit with the reason."""
    if not _MONTH.match(month):
        raise fail(f"--month {month!r}: give a month as YYYY-MM, e.g. 2025-03", 2)
    return month


@finance_app.command("report")
def finance_report(
    ctx: typer.Context,
    month: Annotated[
        str, typer.Option("--month", help="the month charged, YYYY-MM (UTC)", show_default=False)
    ],
    by: Annotated[By, typer.Option("--by", help="group by team, model family or job")] = By.TEAM,
    output: Annotated[
        Format, typer.Option("--format", help="table for people, csv with a header, or json")
    ] = Format.TABLE,
    bus: BusOption = None,
) -> None:
    """Add up one month's chargebacks from the log: jobs, unit-hours and cost per group.

    A job is charged in the UTC month its compute was released, once, in integer
    cents; unit-hours are accelerator-hours (CPU-hours on a CPU pool) held. The
    totals (a TOTAL row in csv, "totals" in json, one per currency) equal the sum
    of the rows to the cent.

    Example: covenant finance report --month 2025-03 --by model --format csv
    """
    check_month(month)
    records, skipped = run(_read(ctx, bus))
    if skipped:
        err.print(f"[yellow]warning:[/yellow] {skipped} finance record(s) could not be decoded")
    lines, totals = report(records, month=month, by=by)
    if output is Format.JSON:
        print(render_json(lines, totals, month=month, by=by))
    elif output is Format.CSV:
        print(render_csv(lines, totals, by), end="")
    elif not lines:
        out.print(f"no chargebacks in {month}")
    else:
        out.print(render_table(lines, totals, month=month, by=by))


async def _read(ctx: typer.Context, bus: str | None) -> tuple[list[object], int]:
    """Every finance record on the log now, decoded; and how many did not decode."""
    codec = default_codec()
    records: list[object] = []
    skipped = 0
    async with open_log(ctx, bus) as log:
        await log.ensure_topics([FINANCE_EVENTS])
        async for record in log.read([FINANCE_EVENTS], follow=False):
            try:
                records.append(codec.decode(record.value))
            except ContractError:
                skipped += 1
    return records, skipped
