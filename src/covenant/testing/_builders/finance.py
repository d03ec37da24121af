"""Builders for usage and chargeback records (``covenant.events.finance``).

Both have the job id as their subject. The defaults agree with each other and
with ``allocation_granted()``: one CPU in ``cpu-local`` for an hour is 1 unit-hour,
at ``0.10`` USD a unit-hour 10 cents, rounded once half-up as Finance does.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Unpack

from covenant.events import finance as fin
from covenant.testing._builders._meta import Meta, build, clock_of
from covenant.testing._builders.allocation import COST_RATE
from covenant.testing._builders.runs import JOB_ID, MODEL_FAMILY, POOL, TEAM


def _decimal_text(value: Decimal) -> str:
    return format(value.normalize(), "f")


def unit_hours_of(units: float, wall_seconds: float) -> str:
    """Decimal unit-hours of ``units`` (accelerators, else CPUs) for ``wall_seconds``."""
    return _decimal_text(Decimal(str(units)) * Decimal(str(wall_seconds)) / Decimal(3600))


def cost_cents_of(cost_rate: str, unit_hours: str) -> int:
    """Cents of ``unit_hours`` at ``cost_rate``, rounded once, half-up."""
    cents = Decimal(cost_rate) * Decimal(unit_hours) * 100
    return int(cents.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def usage_recorded(
    job_id: str = JOB_ID,
    *,
    team: str = TEAM,
    model_family: str = MODEL_FAMILY,
    pool: str = POOL,
    accelerator: str | None = None,
    accelerators: int = 0,
    cpus: float = 1.0,
    wall_seconds: float = 3600.0,
    started_at: datetime | None = None,
    ended_at: datetime | None = None,
    unit_hours: str | None = None,
    measured_cpu_seconds: float | None = None,
    measured_gpu_seconds: float | None = None,
    **meta: Unpack[Meta],
) -> fin.UsageRecorded:
    """A ``finance.usage`` event, as the accounting worker writes it.

    ``ended_at`` defaults to the clock's now and ``started_at`` to ``wall_seconds``
    before it; ``unit_hours`` to ``unit_hours_of(accelerators or cpus, wall_seconds)``.
    """
    ended = ended_at if ended_at is not None else clock_of(meta).now()
    started = started_at if started_at is not None else ended - timedelta(seconds=wall_seconds)
    units = accelerators if accelerators else cpus
    return build(
        fin.UsageRecorded,
        meta,
        subject=job_id,
        producer="finance",
        job_id=job_id,
        team=team,
        model_family=model_family,
        pool=pool,
        accelerator=accelerator,
        accelerators=accelerators,
        cpus=cpus,
        started_at=started,
        ended_at=ended,
        wall_seconds=wall_seconds,
        unit_hours=unit_hours if unit_hours is not None else unit_hours_of(units, wall_seconds),
        measured_cpu_seconds=measured_cpu_seconds,
        measured_gpu_seconds=measured_gpu_seconds,
    )


def chargeback_recorded(
    job_id: str = JOB_ID,
    *,
    team: str = TEAM,
    model_family: str = MODEL_FAMILY,
    pool: str = POOL,
    month: str | None = None,
    cost_rate: str = COST_RATE,
    unit_hours: str = "1",
    cost_cents: int | None = None,
    currency: str = "USD",
    **meta: Unpack[Meta],
) -> fin.ChargebackRecorded:
    """A ``finance.chargeback`` event, as the accounting worker writes it:
    ``month`` defaults to the clock's (UTC) ``YYYY-MM`` and ``cost_cents`` to
    ``cost_cents_of(cost_rate, unit_hours)``."""
    return build(
        fin.ChargebackRecorded,
        meta,
        subject=job_id,
        producer="finance",
        job_id=job_id,
        team=team,
        model_family=model_family,
        pool=pool,
        month=month if month is not None else clock_of(meta).now().strftime("%Y-%m"),
        cost_rate=cost_rate,
        unit_hours=unit_hours,
        cost_cents=cost_cents if cost_cents is not None else cost_cents_of(cost_rate, unit_hours),
        currency=currency,
    )
