"""Whatever arrives in whatever order, no pool is overdrawn, no team exceeds its
quota, and everything queued is granted once the holders let go."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from covenant.events.allocation import (
    AllocationFreed,
    AllocationGranted,
    AllocationQueued,
    AllocationReleased,
    AllocationRequested,
)
from covenant.events.base import Message
from covenant.testing import SequentialIds
from covenant.training.allocation import AllocationState, decide_release, decide_request
from covenant.training.pools import Pool, Quota

TEAMS = ("vision", "nlp", "ads")
QUOTAS = {"vision": Quota(accelerators=3, cpus=8), "*": Quota(accelerators=2, cpus=6)}
POOLS = {
    name: Pool(
        name=name,
        accelerator="A100",
        accelerators=size,
        cpus=10,
        memory_gb=64,
        hardware_class="gpu-A100",
        cost_rate=Decimal("1"),
        quotas=QUOTAS,
        limited=True,
    )
    for name, size in (("east", 4), ("west", 2))
}


def command(cls: type[Message], pool: str, **body: object) -> Message:
    message: Message = cls.create(subject=pool, actor="t", producer="test", pool=pool, **body)
    return message


def decide(state: AllocationState, command: Message) -> list[Message]:
    """One decision as the runtime makes it: decide, write (here: build), fold."""
    if isinstance(command, AllocationRequested):
        emits = decide_request(command, state, POOLS)
    else:
        assert isinstance(command, AllocationReleased)
        emits = decide_release(command, state, POOLS)
    out = [
        e.cls.create(subject=e.subject, actor="t", producer="a", ids=IDS, **e.body) for e in emits
    ]
    for message in out:
        state.apply(message)
    return out


IDS = SequentialIds()
ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("request"),
            st.sampled_from(sorted(POOLS)),
            st.sampled_from(TEAMS),
            st.integers(1, 3),
            st.sampled_from([0.5, 1.0, 2.5]),
        ),
        st.tuples(st.just("release"), st.integers(0, 40)),
        st.tuples(st.just("redeliver"), st.integers(0, 40)),
    ),
    max_size=60,
)


class Ledger:
    """Holdings recounted from the answers alone, independently of the state."""

    def __init__(self) -> None:
        self.holding: dict[str, AllocationGranted] = {}
        self.grants: Counter[str] = Counter()
        self.queued: set[str] = set()

    def see(self, messages: list[Message]) -> None:
        for m in messages:
            if isinstance(m, AllocationGranted):
                self.grants[m.allocation_id] += 1
                self.holding[m.allocation_id] = m
                self.queued.discard(m.allocation_id)
            elif isinstance(m, AllocationQueued):
                self.queued.add(m.allocation_id)
            elif isinstance(m, AllocationFreed):
                self.holding.pop(m.allocation_id, None)
                self.queued.discard(m.allocation_id)
        self.check()

    def check(self) -> None:
        for name, pool in POOLS.items():
            held = [g for g in self.holding.values() if g.pool == name]
            assert sum(g.accelerators for g in held) <= pool.accelerators
            assert sum(Decimal(repr(g.cpus)) for g in held) <= Decimal(repr(pool.cpus))
            for team in TEAMS:
                share = pool.quota_for(team)
                assert share is not None
                mine = [g for g in held if g.team == team]
                assert sum(g.accelerators for g in mine) <= (share.accelerators or 0)
                assert sum(Decimal(repr(g.cpus)) for g in mine) <= Decimal(repr(share.cpus))
        assert all(n == 1 for n in self.grants.values())  # never granted twice


@settings(max_examples=300, deadline=None)
@given(ops)
def test_never_over_capacity_or_quota_and_every_queued_request_is_granted(
    steps: list[tuple[object, ...]],
) -> None:
    state, ledger = AllocationState(), Ledger()
    sent: list[tuple[str, str, str]] = []  # (job, pool, team) of every request
    commands: list[Message] = []
    for step in steps:
        if step[0] == "request":
            _, pool, team, accelerators, cpus = step
            job = f"j{len(sent)}"
            asked = {"accelerators": accelerators, "cpus": cpus, "memory_gb": 1.0}
            message = command(AllocationRequested, str(pool), allocation_id=job, team=team, **asked)
            sent.append((job, str(pool), str(team)))
        elif step[0] == "release" and sent:
            job, pool, team = sent[int(step[1]) % len(sent)]
            message = command(AllocationReleased, pool, allocation_id=job, team=team)
        elif step[0] == "redeliver" and commands:
            message = commands[int(step[1]) % len(commands)]
        else:
            continue
        commands.append(message)
        ledger.see(decide(state, message))
    # Everyone lets go, over and over: the queues must empty.
    for _ in range(len(sent) + 1):
        if not ledger.queued:
            break
        for job in list(ledger.holding):
            grant = ledger.holding[job]
            freeing = command(AllocationReleased, grant.pool, allocation_id=job, team=grant.team)
            ledger.see(decide(state, freeing))
    assert ledger.queued == set()
    assert all(not state.queue(p) for p in POOLS)
