"""Compute allocation: the Resource Allocator's topics.

Requests and releases are keyed by pool, so one writer decides each pool and no
two grants can overdraw it or a team's quota, however many jobs arrive at once.
The answers are keyed by allocation (the job), so they reach the job's own writer.
An external Resource Allocator replaces the built-in one by consuming
``covenant.cmd.allocation`` and writing ``covenant.evt.allocation``.
"""

from __future__ import annotations

from pydantic import Field

from covenant.events.base import Command, Event
from covenant.events.refusals import Refusal
from covenant.topics import ALLOCATION_COMMANDS, ALLOCATION_EVENTS


class AllocationRequested(Command, type="allocation.requested", topic=ALLOCATION_COMMANDS):
    """Ask for compute in one pool (subject: the pool)."""

    allocation_id: str = Field(description="the job id")
    pool: str
    team: str
    accelerator: str | None = None
    accelerators: int = 0
    cpus: float = 1.0
    memory_gb: float = 1.0


class AllocationReleased(Command, type="allocation.released", topic=ALLOCATION_COMMANDS):
    """Give compute back (subject: the pool); a no-op for what was never held."""

    allocation_id: str
    pool: str
    team: str


class AllocationGranted(Event, type="allocation.granted", topic=ALLOCATION_EVENTS):
    """Compute is held for the allocation until it is released."""

    allocation_id: str
    pool: str
    team: str
    accelerator: str | None = None
    accelerators: int = 0
    cpus: float = 1.0
    memory_gb: float = 1.0
    hardware_class: str = Field(description="what the pool's machines are, e.g. gpu-A100")
    cost_rate: str = Field(description="decimal price per unit-hour, in the pool's currency")
    currency: str = "USD"


class AllocationQueued(Event, type="allocation.queued", topic=ALLOCATION_EVENTS):
    """It fits the pool but not the quota or the free capacity now; it is granted,
    in order, when enough is released."""

    allocation_id: str
    pool: str
    team: str
    accelerator: str | None = None
    accelerators: int = 0
    cpus: float = 1.0
    memory_gb: float = 1.0
    position: int = Field(description="1 for the next in line")
    reason: str


class AllocationDenied(Event, type="allocation.denied", topic=ALLOCATION_EVENTS):
    """It can never be granted as asked (unknown pool, larger than the pool)."""

    allocation_id: str
    pool: str
    reasons: list[str]
    refusals: list[Refusal] = Field(default_factory=list)


class AllocationFreed(Event, type="allocation.freed", topic=ALLOCATION_EVENTS):
    """Held or queued compute was given back."""

    allocation_id: str
    pool: str
    team: str
    was_granted: bool
