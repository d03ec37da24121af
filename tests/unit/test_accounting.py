"""Accounting: exact unit-hours, one half-up rounding per job, totals to the cent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from covenant.events.allocation import AllocationGranted
from covenant.events.finance import ChargebackRecorded, UsageRecorded
from covenant.testing import FrozenClock
from covenant.training.accounting import (
    JobUsage,
    cost_cents,
    format_cents,
    month_of,
    plain,
    unit_hours,
    usage_and_chargeback,
)

START = datetime(2025, 3, 31, 22, 0, tzinfo=UTC)


def job(
    *,
    accelerator: str | None = "A100",
    accelerators: int = 2,
    cpus: float = 8.0,
    rate: str = "2.93",
    held: timedelta = timedelta(hours=1, minutes=30),
) -> JobUsage:
    return JobUsage(
        job_id="job-1",
        team="vision",
        model_family="resnet",
        pool="gpu-us-east",
        accelerator=accelerator,
        accelerators=accelerators,
        cpus=cpus,
        cost_rate=rate,
        currency="USD",
        granted_at=START,
        released_at=START + held,
        measured_cpu_seconds=100.5,
        measured_gpu_seconds=42.0,
    )


def test_accelerator_hours_times_the_rate_rounded_once_half_up() -> None:
    usage, charge = usage_and_chargeback(job())
    assert usage["unit_hours"] == charge["unit_hours"] == "3"  # 2 A100 x 1.5 h
    assert usage["wall_seconds"] == 5400.0
    assert charge["cost_cents"] == 879  # 3 x 2.93 = 8.79
    assert charge["month"] == "2025-03"
    assert (usage["measured_cpu_seconds"], usage["measured_gpu_seconds"]) == (100.5, 42.0)


def test_a_cpu_pool_charges_cpu_hours() -> None:
    usage, charge = usage_and_chargeback(
        job(accelerator=None, accelerators=0, cpus=0.5, rate="0.04")
    )
    assert usage["unit_hours"] == "0.75"
    assert charge["cost_cents"] == 3  # 0.75 x 0.04 x 100 = 3.0


def test_half_a_cent_rounds_up_and_less_rounds_down() -> None:
    assert cost_cents("1", "0.005") == 1
    assert cost_cents("1", "0.00499") == 0
    assert cost_cents("0.5", "0.01") == 1  # exactly half a cent
    assert cost_cents(Decimal("0.3333333333"), "3") == 100


def test_a_second_has_no_finite_decimal_in_hours_so_it_is_rounded_to_ten_places() -> None:
    hours = unit_hours(job(accelerators=1, held=timedelta(seconds=1)))
    assert plain(hours) == "0.0002777778"
    _, charge = usage_and_chargeback(job(accelerators=1, held=timedelta(seconds=1)))
    assert charge["cost_cents"] == cost_cents(charge["unit_hours"], charge["cost_rate"])


def test_the_month_is_the_utc_month_of_the_release() -> None:
    east = timezone(timedelta(hours=5))
    assert month_of(datetime(2025, 4, 1, 3, 0, tzinfo=east)) == "2025-03"  # still March in UTC
    _, charge = usage_and_chargeback(job(held=timedelta(hours=3)))
    assert charge["month"] == "2025-04"


def test_impossible_intervals_are_refused() -> None:
    with pytest.raises(ValueError, match="released before it was granted"):
        unit_hours(job(held=timedelta(seconds=-1)))
    naive = JobUsage(**{**job().__dict__, "released_at": datetime(2025, 4, 1)})
    with pytest.raises(ValueError, match="no timezone"):
        unit_hours(naive)


def test_the_bodies_make_valid_records_and_a_grant_supplies_the_terms() -> None:
    clock = FrozenClock(START)
    grant: AllocationGranted = AllocationGranted.create(
        subject="job-1",
        actor="t",
        producer="allocator",
        clock=clock,
        allocation_id="job-1",
        pool="gpu-us-east",
        team="vision",
        accelerator="A100",
        accelerators=2,
        cpus=8.0,
        memory_gb=64.0,
        hardware_class="gpu-A100",
        cost_rate="2.93",
        currency="USD",
    )
    usage_fields, charge_fields = usage_and_chargeback(
        JobUsage.from_grant(grant, model_family="resnet", released_at=START + timedelta(hours=2))
    )
    usage = UsageRecorded.create(subject="job-1", actor="t", producer="train", **usage_fields)
    charge = ChargebackRecorded.create(
        subject="job-1", actor="t", producer="train", **charge_fields
    )
    assert (usage.unit_hours, usage.started_at) == ("4", START)
    assert (charge.cost_cents, charge.currency, charge.cost_rate) == (1172, "USD", "2.93")


def test_cents_print_as_a_decimal_amount() -> None:
    assert [format_cents(c) for c in (0, 5, 100, 123456, -250)] == [
        "0.00",
        "0.05",
        "1.00",
        "1234.56",
        "-2.50",
    ]
    assert [plain(Decimal(t)) for t in ("2.500", "20", "2E+1", "0.0000")] == [
        "2.5",
        "20",
        "20",
        "0",
    ]


jobs = st.lists(
    st.tuples(
        st.integers(0, 16),  # accelerators (0: a CPU pool)
        st.sampled_from([0.25, 1.0, 3.5, 96.0]),  # cpus
        st.integers(0, 40 * 24 * 3_600_000_000),  # microseconds held
        st.decimals(min_value=0, max_value=50, places=4, allow_nan=False),  # rate
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(jobs)
def test_totals_equal_the_sum_of_the_records_and_each_is_within_half_a_cent(
    specs: list[tuple[int, float, int, Decimal]],
) -> None:
    charges = []
    for accelerators, cpus, micros, rate in specs:
        usage = job(
            accelerator="A100" if accelerators else None,
            accelerators=accelerators,
            cpus=cpus,
            rate=str(rate),
            held=timedelta(microseconds=micros),
        )
        _, charge = usage_and_chargeback(usage)
        units = Decimal(accelerators) if accelerators else Decimal(repr(cpus))
        exact = units * Decimal(micros) / Decimal(3_600_000_000) * rate * 100
        assert abs(Decimal(charge["cost_cents"]) - exact) <= Decimal("0.5") + Decimal("1e-6") * rate
        assert charge["cost_cents"] == cost_cents(charge["unit_hours"], charge["cost_rate"])
        exact_hours = units * Decimal(micros) / Decimal(3_600_000_000)
        assert abs(Decimal(charge["unit_hours"]) - exact_hours) <= Decimal("5e-11")
        charges.append(charge)
    total = sum(c["cost_cents"] for c in charges)
    assert isinstance(total, int)
    assert Decimal(format_cents(total)) * 100 == total  # printing loses nothing
    assert Decimal(format_cents(total)) == sum(
        Decimal(format_cents(c["cost_cents"])) for c in charges
    )
