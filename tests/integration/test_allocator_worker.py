"""The allocator on the real runtime, on both logs: with a team quota of 2, five
requests sent at once hold at most 2 at a time, and all five are granted in turn
as the holders release."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from decimal import Decimal

from covenant.bus import Bus
from covenant.events.allocation import (
    AllocationFreed,
    AllocationGranted,
    AllocationQueued,
    AllocationReleased,
    AllocationRequested,
)
from covenant.events.base import Message
from covenant.testing import collect, drain, publish, running
from covenant.topics import ALLOCATION_COMMANDS, ALLOCATION_EVENTS, DEADLETTER
from covenant.training.allocator import make_allocator_worker
from covenant.training.pools import Pool, Quota

POOL = Pool(
    name="gpu-us-east",
    accelerator="A100",
    accelerators=8,
    cpus=64,
    memory_gb=512,
    hardware_class="gpu-A100",
    cost_rate=Decimal("2.93"),
    quotas={"vision": Quota(accelerators=2)},
    limited=True,
)
JOBS = [f"job-{i}" for i in range(5)]


def requested(job: str) -> AllocationRequested:
    message: AllocationRequested = AllocationRequested.create(
        subject=POOL.name,
        actor="trainer",
        producer="test",
        allocation_id=job,
        pool=POOL.name,
        team="vision",
        accelerator="A100",
        accelerators=1,
        cpus=4.0,
        memory_gb=16.0,
    )
    return message


def released(job: str) -> AllocationReleased:
    message: AllocationReleased = AllocationReleased.create(
        subject=POOL.name,
        actor="trainer",
        producer="test",
        allocation_id=job,
        pool=POOL.name,
        team="vision",
    )
    return message


def holding(events: Sequence[Message]) -> set[str]:
    granted = {e.allocation_id for e in events if isinstance(e, AllocationGranted)}
    return granted - {e.allocation_id for e in events if isinstance(e, AllocationFreed)}


async def test_a_team_quota_of_two_holds_two_at_a_time_and_grants_all_in_turn(
    bus: Bus,
) -> None:
    await bus.ensure_topics([ALLOCATION_COMMANDS, ALLOCATION_EVENTS, DEADLETTER])
    worker = make_allocator_worker({POOL.name: POOL})
    async with running(bus, [worker]):
        await publish(bus, *(requested(j) for j in JOBS))  # all at once, one batch
        await publish(bus, requested(JOBS[0]))  # a redelivery: no second answer
        events = await collect(bus, ALLOCATION_EVENTS, until=lambda ms: len(ms) >= 5)
        assert len(holding(events)) == 2
        assert sum(isinstance(e, AllocationQueued) for e in events) == 3
        releases: list[str] = []
        for step in range(len(JOBS)):
            (job, *_) = sorted(holding(events))
            release = released(job)
            releases.append(release.meta.event_id)
            await publish(bus, release)
            freed = step + 1
            wanted = 5 + freed + min(freed, 3)  # the first answers, frees, later grants
            events = await collect(bus, ALLOCATION_EVENTS, until=lambda ms, n=wanted: len(ms) >= n)
            await drain(bus, [worker])
            events = await collect(bus, ALLOCATION_EVENTS)  # a committed snapshot
            assert len(holding(events)) <= 2, events
        assert await collect(bus, DEADLETTER) == []
    grants = Counter(e.allocation_id for e in events if isinstance(e, AllocationGranted))
    assert grants == Counter(JOBS)  # every job granted, exactly once
    assert holding(events) == set()
    queued = sorted(
        (e for e in events if isinstance(e, AllocationQueued)), key=lambda e: e.position
    )
    assert [e.position for e in queued] == [1, 2, 3]
    grant_cause = {
        e.allocation_id: e.meta.causation_id for e in events if isinstance(e, AllocationGranted)
    }
    # First in line, first served: the n-th release granted the n-th in the queue.
    assert [grant_cause[e.allocation_id] for e in queued] == releases[:3]
    for grant in (e for e in events if isinstance(e, AllocationGranted)):
        assert grant.meta.subject == grant.allocation_id  # keyed by the job
        assert (grant.hardware_class, grant.cost_rate) == ("gpu-A100", "2.93")
