"""Allocation decisions: grant, queue, deny, free, in order, idempotently."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from covenant.events.allocation import (
    AllocationDenied,
    AllocationFreed,
    AllocationGranted,
    AllocationQueued,
    AllocationReleased,
    AllocationRequested,
)
from covenant.events.base import Message
from covenant.events.refusals import RefusalCode
from covenant.testing import SequentialIds
from covenant.training.allocation import (
    AllocationState,
    Amount,
    Emit,
    decide_release,
    decide_request,
)
from covenant.training.pools import Pool, Pools, Quota

IDS = SequentialIds()


def pool(
    name: str = "gpu", *, accelerators: int = 4, quotas: dict[str, Quota] | None = None
) -> Pool:
    return Pool(
        name=name,
        accelerator="A100",
        accelerators=accelerators,
        cpus=32,
        memory_gb=256,
        hardware_class="gpu-A100",
        cost_rate=Decimal("2.93"),
        quotas=quotas or {},
        limited=quotas is not None,
    )


def request(
    job: str, accelerators: int = 1, *, team: str = "vision", pool: str = "gpu"
) -> AllocationRequested:
    message: AllocationRequested = AllocationRequested.create(
        subject=pool,
        actor="t",
        producer="test",
        ids=IDS,
        allocation_id=job,
        pool=pool,
        team=team,
        accelerator="A100",
        accelerators=accelerators,
        cpus=1.0,
        memory_gb=1.0,
    )
    return message


def release(job: str, *, team: str = "vision", pool: str = "gpu") -> AllocationReleased:
    message: AllocationReleased = AllocationReleased.create(
        subject=pool, actor="t", producer="test", ids=IDS, allocation_id=job, pool=pool, team=team
    )
    return message


def fold(state: AllocationState, emits: Sequence[Emit]) -> list[Message]:
    """What the runtime does with a decision: build the records and fold them."""
    messages = [
        e.cls.create(subject=e.subject, actor="t", producer="allocator", ids=IDS, **e.body)
        for e in emits
    ]
    for message in messages:
        state.apply(message)
    return messages


def decide(state: AllocationState, pools: Pools, command: Message) -> list[Message]:
    if isinstance(command, AllocationRequested):
        return fold(state, decide_request(command, state, pools))
    assert isinstance(command, AllocationReleased)
    return fold(state, decide_release(command, state, pools))


def kinds(messages: Sequence[Message]) -> list[tuple[str, str]]:
    return [(m.meta.type, getattr(m, "allocation_id", "")) for m in messages]


def test_a_request_that_fits_is_granted_with_the_pools_terms() -> None:
    state, pools = AllocationState(), {"gpu": pool()}
    (granted,) = decide(state, pools, request("j1", 2))
    assert isinstance(granted, AllocationGranted)
    assert granted.meta.subject == "j1"  # answers are keyed by the job
    assert (granted.hardware_class, granted.cost_rate, granted.currency) == (
        "gpu-A100",
        "2.93",
        "USD",
    )
    assert state.held["gpu"] == Amount(2, Decimal("1.0"), Decimal("1.0"))


def test_unknown_pools_and_requests_bigger_than_the_pool_are_denied() -> None:
    state, pools = AllocationState(), {"gpu": pool()}
    (unknown,) = decide(state, pools, request("j1", pool="tpu"))
    assert isinstance(unknown, AllocationDenied)
    assert unknown.refusals[0].code is RefusalCode.INVALID
    assert "known pools: gpu" in unknown.reasons[0]
    (big,) = decide(state, pools, request("j2", 5))
    assert isinstance(big, AllocationDenied)
    assert big.refusals[0].code is RefusalCode.QUOTA
    assert state.held == {}


def test_beyond_a_teams_whole_quota_is_denied_not_queued_forever() -> None:
    state, pools = AllocationState(), {"gpu": pool(quotas={"vision": Quota(accelerators=2)})}
    (denied,) = decide(state, pools, request("j1", 3))
    assert isinstance(denied, AllocationDenied)
    (other,) = decide(state, pools, request("j2", 1, team="nlp"))
    assert isinstance(other, AllocationDenied)  # no "*" entry: no share of the pool


def test_what_does_not_fit_now_queues_and_is_granted_in_order_on_release() -> None:
    state, pools = AllocationState(), {"gpu": pool(accelerators=2)}
    assert kinds(decide(state, pools, request("a", 2))) == [("allocation.granted", "a")]
    queued = [decide(state, pools, request(j, 1))[0] for j in ("b", "c", "d")]
    assert [q.position for q in queued if isinstance(q, AllocationQueued)] == [1, 2, 3]
    assert "free capacity" in queued[0].reason  # type: ignore[attr-defined]
    assert kinds(decide(state, pools, release("a"))) == [
        ("allocation.freed", "a"),
        ("allocation.granted", "b"),
        ("allocation.granted", "c"),
    ]
    assert [a.allocation_id for a in state.queue("gpu")] == ["d"]
    freed = decide(state, pools, release("d"))  # leaves the queue, frees nothing held
    assert isinstance(freed[0], AllocationFreed)
    assert not freed[0].was_granted
    assert state.queue("gpu") == []


def test_a_blocked_large_request_is_not_overtaken_on_capacity() -> None:
    state, pools = AllocationState(), {"gpu": pool(accelerators=4)}
    decide(state, pools, request("a", 3))
    (big,) = decide(state, pools, request("big", 4))
    (small,) = decide(state, pools, request("small", 1))  # would fit, but waits its turn
    assert isinstance(big, AllocationQueued)
    assert isinstance(small, AllocationQueued)
    assert kinds(decide(state, pools, release("a"))) == [
        ("allocation.freed", "a"),
        ("allocation.granted", "big"),
    ]


def test_a_team_waiting_on_its_own_quota_does_not_block_other_teams() -> None:
    quotas = {"vision": Quota(accelerators=1), "nlp": Quota(accelerators=2)}
    state, pools = AllocationState(), {"gpu": pool(accelerators=4, quotas=quotas)}
    decide(state, pools, request("v1", 1))
    (v2,) = decide(state, pools, request("v2", 1))
    assert isinstance(v2, AllocationQueued)
    assert "team vision is at its quota" in v2.reason
    (n1,) = decide(state, pools, request("n1", 1, team="nlp"))
    assert isinstance(n1, AllocationGranted)
    assert kinds(decide(state, pools, release("v1"))) == [
        ("allocation.freed", "v1"),
        ("allocation.granted", "v2"),
    ]


def test_a_redelivered_request_or_release_is_a_no_op() -> None:
    state, pools = AllocationState(), {"gpu": pool(accelerators=1)}
    first = request("a")
    decide(state, pools, first)
    assert decide(state, pools, first) == []
    decide(state, pools, request("b"))
    assert decide(state, pools, request("b")) == []  # queued already
    decide(state, pools, release("a"))
    assert decide(state, pools, release("a")) == []
    assert decide(state, pools, request("a")) == []  # freed: the id is spent
    assert decide(state, pools, release("never")) == []
    assert decide(state, pools, release("b", pool="other")) == []  # another pool's writer


def test_folding_the_same_records_again_or_in_another_order_changes_nothing() -> None:
    state, pools = AllocationState(), {"gpu": pool(accelerators=2)}
    written: list[Message] = []
    for command in (request("a", 2), request("b", 1), request("c", 2), release("a"), request("d")):
        written += decide(state, pools, command)
    again = AllocationState()
    # The table reads partitions interleaved: per allocation in order, across them not.
    by_job: dict[str, list[Message]] = {}
    for m in written:
        by_job.setdefault(m.meta.subject, []).append(m)
    for job in sorted(by_job, reverse=True):
        for m in by_job[job]:
            again.apply(m)
    for m in written:  # and then everything once more
        state.apply(m)
    assert again == state
    assert [a.allocation_id for a in state.queue("gpu")] == ["c", "d"]
