"""The usage and chargeback records of one job, from its facts (pure).

Units are accelerator-hours, or CPU-hours for a job without accelerators:
requested units times wall time from grant to release, exact in ``Decimal``.
Money is rounded once per job, half up, to integer cents, so Finance's totals are
sums of integers and agree with the records to the cent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from covenant.events.base import Message
from covenant.events.finance import ChargebackRecorded, UsageRecorded
from covenant.events.training import TrainingJob
from covenant.training.jobs import Allocation

_HOUR = Decimal(3600)


def unit_hours(units: Decimal, wall_seconds: Decimal) -> Decimal:
    return units * wall_seconds / _HOUR


def cost_cents(hours: Decimal, rate: Decimal) -> int:
    return int((hours * rate * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def records_for(
    *,
    job: TrainingJob,
    allocation: Allocation,
    ended_at: datetime,
    cpu_seconds: float | None,
    gpu_seconds: float | None,
) -> list[tuple[type[Message], dict[str, Any]]]:
    """``(UsageRecorded, body)`` and ``(ChargebackRecorded, body)`` for the job."""
    wall = max(Decimal(0), Decimal(str((ended_at - allocation.granted_at).total_seconds())))
    units = (
        Decimal(allocation.accelerators)
        if allocation.accelerators
        else Decimal(str(job.compute.cpus))
    )
    hours = unit_hours(units, wall)
    rate = Decimal(allocation.cost_rate)
    common = {
        "job_id": job.job_id,
        "team": job.team,
        "model_family": job.model_family,
        "pool": allocation.pool,
    }
    usage = {
        **common,
        "accelerator": allocation.accelerator,
        "accelerators": allocation.accelerators,
        "cpus": job.compute.cpus,
        "started_at": allocation.granted_at,
        "ended_at": ended_at,
        "wall_seconds": float(wall),
        "unit_hours": str(hours),
        "measured_cpu_seconds": cpu_seconds,
        "measured_gpu_seconds": gpu_seconds,
    }
    charge = {
        **common,
        "month": ended_at.astimezone(UTC).strftime("%Y-%m"),
        "cost_rate": allocation.cost_rate,
        "unit_hours": str(hours),
        "cost_cents": cost_cents(hours, rate),
        "currency": allocation.currency,
    }
    return [(UsageRecorded, usage), (ChargebackRecorded, charge)]
