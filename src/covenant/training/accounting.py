"""What a job used and what it costs its team, as pure arithmetic.

The training worker calls ``usage_and_chargeback`` once, when a job's compute is
released, and emits the two bodies (``UsageRecorded``, ``ChargebackRecorded``).

* Unit-hours are what the job *held*, not what it measured: accelerators (on a
  pool with an accelerator) or CPUs (on a CPU pool) times the wall time from grant
  to release. Held compute is what nobody else could use, so it is what is paid.
  The measured CPU/GPU seconds travel beside it for capacity planning.
* Unit-hours are a decimal string rounded half-up to ``UNIT_HOURS_PLACES`` places
  (a wall second is 1/3600 hour, which has no finite decimal): a tenth of a
  microsecond of one accelerator. The cost is computed *from that string*, so
  anyone can recompute ``cost_cents`` from the record alone.
* ``cost_cents = round_half_up(unit_hours * rate * 100)``, once per job, as an int;
  a report adds integer cents and never rounds again, so its totals equal the sum
  of its records to the cent.
* ``month`` is the ``YYYY-MM`` of the release, in UTC: a job is charged in the
  month it ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from covenant.events.allocation import AllocationGranted

UNIT_HOURS_PLACES = 10
_QUANTUM = Decimal(1).scaleb(-UNIT_HOURS_PLACES)
_MICROS_PER_HOUR = Decimal(3_600_000_000)


@dataclass(frozen=True)
class JobUsage:
    """Everything the bill of one job depends on.

    Attributes:
        cost_rate: the decimal price per unit-hour granted (``AllocationGranted``),
            not the pool's rate today, which may have changed since.
        accelerator: the pool's accelerator; None for a CPU pool (CPU-hours).
        granted_at, released_at: timezone-aware; the job held compute in between.
    """

    job_id: str
    team: str
    model_family: str
    pool: str
    accelerator: str | None
    accelerators: int
    cpus: float
    cost_rate: str
    currency: str
    granted_at: datetime
    released_at: datetime
    measured_cpu_seconds: float | None = None
    measured_gpu_seconds: float | None = None

    @classmethod
    def from_grant(
        cls,
        grant: AllocationGranted,
        *,
        model_family: str,
        released_at: datetime,
        measured_cpu_seconds: float | None = None,
        measured_gpu_seconds: float | None = None,
    ) -> JobUsage:
        """The usage of the job holding ``grant`` (granted at its ``occurredAt``)."""
        return cls(
            job_id=grant.allocation_id,
            team=grant.team,
            model_family=model_family,
            pool=grant.pool,
            accelerator=grant.accelerator,
            accelerators=grant.accelerators,
            cpus=grant.cpus,
            cost_rate=grant.cost_rate,
            currency=grant.currency,
            granted_at=grant.meta.occurred_at,
            released_at=released_at,
            measured_cpu_seconds=measured_cpu_seconds,
            measured_gpu_seconds=measured_gpu_seconds,
        )


def plain(value: Decimal) -> str:
    """A decimal as digits, without an exponent or trailing zeros (``"2.5"``, ``"20"``)."""
    text = f"{value:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _wall(job: JobUsage) -> Decimal:
    """Wall time held, in whole microseconds (the log's resolution)."""
    for name in ("granted_at", "released_at"):
        if getattr(job, name).tzinfo is None:
            raise ValueError(f"{name} of job {job.job_id} has no timezone")
    held = job.released_at - job.granted_at
    micros = (held.days * 86_400 + held.seconds) * 1_000_000 + held.microseconds
    if micros < 0:
        raise ValueError(f"job {job.job_id} was released before it was granted")
    return Decimal(micros)


def unit_hours(job: JobUsage) -> Decimal:
    """Accelerator-hours (CPU-hours on a CPU pool), rounded half-up to
    ``UNIT_HOURS_PLACES`` places."""
    units = Decimal(job.accelerators) if job.accelerator else Decimal(repr(float(job.cpus)))
    exact = units * _wall(job) / _MICROS_PER_HOUR
    return exact.quantize(_QUANTUM, rounding=ROUND_HALF_UP)


def cost_cents(hours: Decimal | str, rate: Decimal | str) -> int:
    """``round_half_up(hours * rate * 100)``: the one rounding of a job's cost."""
    exact = Decimal(hours) * Decimal(rate) * 100
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def month_of(moment: datetime) -> str:
    """``YYYY-MM`` of ``moment`` in UTC, the month a job is charged in."""
    return f"{moment.astimezone(UTC):%Y-%m}"


def usage_body(job: JobUsage) -> dict[str, Any]:
    """The fields of the job's ``UsageRecorded``."""
    return {
        "job_id": job.job_id,
        "team": job.team,
        "model_family": job.model_family,
        "pool": job.pool,
        "accelerator": job.accelerator,
        "accelerators": job.accelerators,
        "cpus": job.cpus,
        "started_at": job.granted_at,
        "ended_at": job.released_at,
        "wall_seconds": float(_wall(job) / 1_000_000),
        "unit_hours": plain(unit_hours(job)),
        "measured_cpu_seconds": job.measured_cpu_seconds,
        "measured_gpu_seconds": job.measured_gpu_seconds,
    }


def chargeback_body(job: JobUsage) -> dict[str, Any]:
    """The fields of the job's ``ChargebackRecorded``."""
    hours = plain(unit_hours(job))
    return {
        "job_id": job.job_id,
        "team": job.team,
        "model_family": job.model_family,
        "pool": job.pool,
        "month": month_of(job.released_at),
        "cost_rate": job.cost_rate,
        "unit_hours": hours,
        "cost_cents": cost_cents(hours, job.cost_rate),
        "currency": job.currency,
    }


def usage_and_chargeback(job: JobUsage) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both bodies, for ``ctx.emit(UsageRecorded, subject=job_id, **usage)`` and
    ``ctx.emit(ChargebackRecorded, subject=job_id, **chargeback)``."""
    return usage_body(job), chargeback_body(job)


def format_cents(cents: int) -> str:
    """Integer cents as a decimal amount: ``123456`` → ``"1234.56"``."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole}.{part:02d}"
