"""Usage and chargeback records: Finance's topic.

Money is integer cents, rounded once per job (half-up) from the exact decimal
product, so a report's totals equal the sum of its records to the cent.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from covenant.events.base import Event
from covenant.topics import FINANCE_EVENTS


class UsageRecorded(Event, type="finance.usage", topic=FINANCE_EVENTS):
    """What one job used: requested units times wall time, and what was measured."""

    job_id: str
    team: str
    model_family: str
    pool: str
    accelerator: str | None = None
    accelerators: int = 0
    cpus: float = 1.0
    started_at: datetime = Field(description="when compute was granted")
    ended_at: datetime = Field(description="when it was released")
    wall_seconds: float
    unit_hours: str = Field(description="decimal accelerator-hours (CPU-hours without one)")
    measured_cpu_seconds: float | None = None
    measured_gpu_seconds: float | None = Field(default=None, description="from NVML")


class ChargebackRecorded(Event, type="finance.chargeback", topic=FINANCE_EVENTS):
    """What one job costs its team, at the pool's rate."""

    job_id: str
    team: str
    model_family: str
    pool: str
    month: str = Field(description="YYYY-MM of ended_at, UTC")
    cost_rate: str = Field(description="decimal price per unit-hour")
    unit_hours: str
    cost_cents: int
    currency: str = "USD"
