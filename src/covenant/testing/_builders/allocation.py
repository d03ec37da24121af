"""Builders for compute allocation (``covenant.events.allocation``).

The commands have the pool as their subject (one writer decides each pool); the
events the allocation id, which is the job id, so they reach the job's writer.
By default ``job-1`` of team ``vision`` asks pool ``cpu-local`` for one CPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Unpack

from covenant.events import allocation as al
from covenant.events.refusals import Refusal, RefusalCode
from covenant.testing._builders._meta import Meta, build, refused
from covenant.testing._builders.runs import HARDWARE_CLASS, JOB_ID, POOL, TEAM

COST_RATE: Final = "0.10"
"""The default pool's price per unit-hour, in USD."""


def allocation_requested(
    allocation_id: str = JOB_ID,
    *,
    pool: str = POOL,
    team: str = TEAM,
    accelerator: str | None = None,
    accelerators: int = 0,
    cpus: float = 1.0,
    memory_gb: float = 1.0,
    **meta: Unpack[Meta],
) -> al.AllocationRequested:
    """An ``allocation.requested`` command, as the training worker writes it."""
    return build(
        al.AllocationRequested,
        meta,
        subject=pool,
        producer="training",
        allocation_id=allocation_id,
        pool=pool,
        team=team,
        accelerator=accelerator,
        accelerators=accelerators,
        cpus=cpus,
        memory_gb=memory_gb,
    )


def allocation_released(
    allocation_id: str = JOB_ID, *, pool: str = POOL, team: str = TEAM, **meta: Unpack[Meta]
) -> al.AllocationReleased:
    """An ``allocation.released`` command, as the training worker writes it."""
    return build(
        al.AllocationReleased,
        meta,
        subject=pool,
        producer="training",
        allocation_id=allocation_id,
        pool=pool,
        team=team,
    )


def allocation_granted(
    allocation_id: str = JOB_ID,
    *,
    pool: str = POOL,
    team: str = TEAM,
    accelerator: str | None = None,
    accelerators: int = 0,
    cpus: float = 1.0,
    memory_gb: float = 1.0,
    hardware_class: str = HARDWARE_CLASS,
    cost_rate: str = COST_RATE,
    currency: str = "USD",
    **meta: Unpack[Meta],
) -> al.AllocationGranted:
    """An ``allocation.granted`` event, as the allocator writes it for
    ``allocation_requested`` with the same keywords."""
    return build(
        al.AllocationGranted,
        meta,
        subject=allocation_id,
        producer="allocator",
        allocation_id=allocation_id,
        pool=pool,
        team=team,
        accelerator=accelerator,
        accelerators=accelerators,
        cpus=cpus,
        memory_gb=memory_gb,
        hardware_class=hardware_class,
        cost_rate=cost_rate,
        currency=currency,
    )


def allocation_queued(
    allocation_id: str = JOB_ID,
    *,
    pool: str = POOL,
    team: str = TEAM,
    accelerator: str | None = None,
    accelerators: int = 0,
    cpus: float = 1.0,
    memory_gb: float = 1.0,
    position: int = 1,
    reason: str | None = None,
    **meta: Unpack[Meta],
) -> al.AllocationQueued:
    """An ``allocation.queued`` event: next in line unless ``position`` says
    otherwise; ``reason`` defaults to the team's quota being in use."""
    return build(
        al.AllocationQueued,
        meta,
        subject=allocation_id,
        producer="allocator",
        allocation_id=allocation_id,
        pool=pool,
        team=team,
        accelerator=accelerator,
        accelerators=accelerators,
        cpus=cpus,
        memory_gb=memory_gb,
        position=position,
        reason=reason if reason is not None else f"team {team}'s quota in {pool} is in use",
    )


def allocation_denied(
    allocation_id: str = JOB_ID,
    *,
    pool: str = POOL,
    reasons: Sequence[str] | None = None,
    refusals: Sequence[Refusal] | None = None,
    code: RefusalCode = RefusalCode.QUOTA,
    **meta: Unpack[Meta],
) -> al.AllocationDenied:
    """An ``allocation.denied`` event (see ``dataset_rejected`` for how ``reasons``,
    ``refusals`` and ``code`` combine): by default larger than the pool
    (``quota``); ``code=RefusalCode.NOT_FOUND`` is an unknown pool."""
    texts, why = refused(
        reasons=reasons,
        refusals=refusals,
        code=code,
        default=f"allocation {allocation_id!r} can never be granted in {pool} ({code.value})",
    )
    return build(
        al.AllocationDenied,
        meta,
        subject=allocation_id,
        producer="allocator",
        allocation_id=allocation_id,
        pool=pool,
        reasons=texts,
        refusals=why,
    )


def allocation_freed(
    allocation_id: str = JOB_ID,
    *,
    pool: str = POOL,
    team: str = TEAM,
    was_granted: bool = True,
    **meta: Unpack[Meta],
) -> al.AllocationFreed:
    """An ``allocation.freed`` event: granted compute given back unless
    ``was_granted=False`` (a queued request withdrawn)."""
    return build(
        al.AllocationFreed,
        meta,
        subject=allocation_id,
        producer="allocator",
        allocation_id=allocation_id,
        pool=pool,
        team=team,
        was_granted=was_granted,
    )
