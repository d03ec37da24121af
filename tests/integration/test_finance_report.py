"""``covenant finance report`` on the embedded log: the totals are the sum of the
chargeback records to the cent, in every format, and bad input is refused."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from typer.testing import CliRunner

from covenant.cli._app import app
from covenant.events.base import Message
from covenant.events.finance import ChargebackRecorded, UsageRecorded
from covenant.testing import embedded_log, publish

TEAMS = ("vision", "nlp", "ads")
MODELS = ("resnet", "bert")


def charge(
    i: int, *, cents: int, month: str = "2025-03", currency: str = "USD"
) -> ChargebackRecorded:
    message: ChargebackRecorded = ChargebackRecorded.create(
        subject=f"job-{i}",
        actor="t",
        producer="train",
        job_id=f"job-{i}",
        team=TEAMS[i % 3],
        model_family=MODELS[i % 2],
        pool="gpu-us-east",
        month=month,
        cost_rate="2.93",
        unit_hours=f"{i}.5",
        cost_cents=cents,
        currency=currency,
    )
    return message


def usage(i: int) -> UsageRecorded:
    start = datetime(2025, 3, 1, tzinfo=UTC)
    message: UsageRecorded = UsageRecorded.create(
        subject=f"job-{i}",
        actor="t",
        producer="train",
        job_id=f"job-{i}",
        team=TEAMS[i % 3],
        model_family=MODELS[i % 2],
        pool="gpu-us-east",
        accelerator="A100",
        accelerators=2,
        started_at=start,
        ended_at=start + timedelta(hours=1),
        wall_seconds=3600.0,
        unit_hours="2",
        measured_gpu_seconds=1800.0,
    )
    return message


def seed(tmp_path: Path) -> tuple[str, list[ChargebackRecorded]]:
    rng = random.Random(7)
    march = [charge(i, cents=rng.randrange(1, 10**7)) for i in range(40)]
    noise: list[Message] = [
        charge(100, cents=999, month="2025-04"),  # another month
        charge(3, cents=123456),  # a second chargeback for job-3: never billed twice
        *(usage(i) for i in range(40)),
    ]

    async def go() -> None:
        async with embedded_log(tmp_path) as bus:
            await publish(bus, *march, *noise)

    asyncio.run(go())
    return f"sqlite:///{tmp_path / 'log.sqlite3'}", march


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["finance", "report", *args])
    return result.exit_code, result.output


def test_csv_and_json_totals_equal_the_sum_of_the_records_to_the_cent(tmp_path: Path) -> None:
    url, march = seed(tmp_path)
    expected = sum(c.cost_cents for c in march)
    for by in ("team", "model", "job"):
        code, text = invoke("--month", "2025-03", "--by", by, "--format", "csv", "--bus", url)
        assert code == 0, text
        rows = list(csv.DictReader(io.StringIO(text)))
        assert list(rows[0]) == [by, "currency", "jobs", "unit_hours", "cost_cents", "cost"]
        (total,) = [r for r in rows if r[by] == "TOTAL"]
        lines = [r for r in rows if r[by] != "TOTAL"]
        assert int(total["cost_cents"]) == expected == sum(int(r["cost_cents"]) for r in lines)
        assert Decimal(total["cost"]) * 100 == expected
        assert int(total["jobs"]) == 40
        assert len(lines) == {"team": 3, "model": 2, "job": 40}[by]
        code, text = invoke("--month", "2025-03", "--by", by, "--format", "json", "--bus", url)
        assert code == 0, text
        document = json.loads(text)
        (json_total,) = document["totals"]
        assert json_total["costCents"] == expected
        assert sum(r["costCents"] for r in document["rows"]) == expected
        assert Decimal(json_total["unitHours"]) == sum(Decimal(c.unit_hours) for c in march)
    assert json_total["measuredGpuHours"] == 20.0


def test_currencies_are_totalled_apart_and_the_table_shows_the_total(tmp_path: Path) -> None:
    async def go() -> None:
        async with embedded_log(tmp_path) as bus:
            await publish(
                bus, charge(1, cents=150), charge(2, cents=275, currency="EUR"), charge(4, cents=5)
            )

    asyncio.run(go())
    url = f"sqlite:///{tmp_path / 'log.sqlite3'}"
    code, text = invoke("--month", "2025-03", "--format", "json", "--bus", url)
    assert code == 0, text
    totals = {t["currency"]: t["cost"] for t in json.loads(text)["totals"]}
    assert totals == {"EUR": "2.75", "USD": "1.55"}
    code, text = invoke("--month", "2025-03", "--bus", url)
    assert code == 0, text
    assert "TOTAL" in text
    assert "1.55 USD" in text


def test_a_bad_month_is_refused_and_help_explains(tmp_path: Path) -> None:
    for month in ("2025-13", "March", "2025-3"):
        code, text = invoke("--month", month, "--bus", f"sqlite:///{tmp_path / 'l.sqlite3'}")
        assert code == 2
        assert "YYYY-MM" in text
    code, text = invoke("--help")
    assert code == 0
    assert "to the cent" in text
    code, text = invoke("--month", "2025-01", "--bus", f"sqlite:///{tmp_path / 'l.sqlite3'}")
    assert (code, text.strip()) == (0, "no chargebacks in 2025-01")
