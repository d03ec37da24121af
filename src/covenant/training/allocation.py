"""Compute allocation as pure rules: the state the allocator folds, and what a
request or a release leads to.

The state is folded from ``covenant.evt.allocation`` alone (the allocator's own
answers), so it is exactly what was granted, never what someone hoped for. Those
events are keyed by allocation, hence spread over partitions and read back in an
order that differs from the order they were written in; so:

* each allocation only moves forward (queued → granted → freed; denied is final),
  and a record that would move it back is ignored, which makes ``apply``
  idempotent (it folds its own emits, then meets them again in the table);
* a pool's queue is ordered by the event id of each ``allocation.queued`` (UUIDv7,
  in the order the writer made them), not by read order, so a rebuilt state has
  the same queue as the live one.

Who is next: requests are served first come, first served per pool, with one
exception: a request held back only by its *own team's* quota does not block
other teams (a team waiting on itself should not stop the rest of the pool). A
request held back by the pool's free capacity blocks everything behind it, so a
large request is never starved by a stream of small ones, and within one team
the order is strict. Nothing is ever granted past a pool's capacity or a team's
quota: every grant is checked against the holdings of the moment, including the
grants decided earlier in the same scan.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import IntEnum
from typing import Any

from covenant.events.allocation import (
    AllocationDenied,
    AllocationFreed,
    AllocationGranted,
    AllocationQueued,
    AllocationReleased,
    AllocationRequested,
)
from covenant.events.base import Message
from covenant.events.refusals import Refusal, RefusalCode, messages
from covenant.events.training import ComputeRequirements
from covenant.topics import ALLOCATION_EVENTS, Topic
from covenant.training.pools import Pool, Pools, Quota, too_big


@dataclass(frozen=True)
class Amount:
    """Held or asked-for compute; CPUs and memory as exact decimals, so sums of
    ``0.1`` CPUs never drift past a limit through float rounding."""

    accelerators: int = 0
    cpus: Decimal = Decimal(0)
    memory_gb: Decimal = Decimal(0)

    @classmethod
    def of(cls, accelerators: int, cpus: float, memory_gb: float) -> Amount:
        return cls(accelerators, Decimal(repr(cpus)), Decimal(repr(memory_gb)))

    def __add__(self, other: Amount) -> Amount:
        return Amount(
            self.accelerators + other.accelerators,
            self.cpus + other.cpus,
            self.memory_gb + other.memory_gb,
        )

    def __sub__(self, other: Amount) -> Amount:
        return Amount(
            self.accelerators - other.accelerators,
            self.cpus - other.cpus,
            self.memory_gb - other.memory_gb,
        )

    def within(self, limit: Quota) -> bool:
        """Whether this is at most ``limit`` in every dimension it limits."""
        pairs = (
            (self.accelerators, limit.accelerators),
            (self.cpus, limit.cpus),
            (self.memory_gb, limit.memory_gb),
        )
        return all(most is None or value <= Decimal(repr(most)) for value, most in pairs)


class Phase(IntEnum):
    """Where one allocation is; it only moves to a higher phase."""

    QUEUED = 1
    GRANTED = 2
    DONE = 3  # freed or denied


@dataclass(frozen=True)
class Ask:
    """One request as the rules see it, queued or new."""

    allocation_id: str
    pool: str
    team: str
    accelerator: str | None
    amount: Amount
    accelerators: int
    cpus: float
    memory_gb: float
    order: str = "\uffff"  # the queued event's id; a new request sorts after all

    @classmethod
    def of(cls, m: AllocationRequested | AllocationQueued, order: str = "\uffff") -> Ask:
        return cls(
            m.allocation_id,
            m.pool,
            m.team,
            m.accelerator,
            Amount.of(m.accelerators, m.cpus, m.memory_gb),
            m.accelerators,
            m.cpus,
            m.memory_gb,
            order,
        )

    def fields(self) -> dict[str, Any]:
        """The request's fields as the allocation events carry them."""
        return {
            "allocation_id": self.allocation_id,
            "pool": self.pool,
            "team": self.team,
            "accelerator": self.accelerator,
            "accelerators": self.accelerators,
            "cpus": self.cpus,
            "memory_gb": self.memory_gb,
        }


@dataclass
class AllocationState:
    """Grants and queues per pool, folded from the allocator's answers.

    Attributes:
        phase: allocation id -> how far it got (every allocation ever seen).
        granted: allocation id -> what it holds, while it holds it.
        queued: pool -> allocation id -> what it waits for.
        held: pool -> the sum of its grants; ``held_by``: (pool, team) -> sum.
    """

    topics: tuple[Topic, ...] = (ALLOCATION_EVENTS,)
    phase: dict[str, Phase] = field(default_factory=dict)
    granted: dict[str, Ask] = field(default_factory=dict)
    queued: dict[str, dict[str, Ask]] = field(default_factory=dict)
    held: dict[str, Amount] = field(default_factory=dict)
    held_by: dict[tuple[str, str], Amount] = field(default_factory=dict)

    def reset(self) -> None:
        self.phase.clear()
        self.granted.clear()
        self.queued.clear()
        self.held.clear()
        self.held_by.clear()

    def apply(self, message: Message) -> None:
        if isinstance(message, AllocationQueued):
            self._queued(message)
        elif isinstance(message, AllocationGranted):
            self._granted(message)
        elif isinstance(message, AllocationFreed | AllocationDenied):
            self._done(message)

    def _queued(self, message: AllocationQueued) -> None:
        if self._advance(message.allocation_id, Phase.QUEUED):
            ask = Ask.of(message, order=message.meta.event_id)
            self.queued.setdefault(ask.pool, {})[ask.allocation_id] = ask

    def _granted(self, message: AllocationGranted) -> None:
        if not self._advance(message.allocation_id, Phase.GRANTED):
            return
        self._unqueue(message.pool, message.allocation_id)
        ask = Ask(
            message.allocation_id,
            message.pool,
            message.team,
            message.accelerator,
            Amount.of(message.accelerators, message.cpus, message.memory_gb),
            message.accelerators,
            message.cpus,
            message.memory_gb,
        )
        self.granted[ask.allocation_id] = ask
        self._hold(ask, ask.amount)

    def _done(self, message: AllocationFreed | AllocationDenied) -> None:
        if self._advance(message.allocation_id, Phase.DONE):
            self._unqueue(message.pool, message.allocation_id)
            held = self.granted.pop(message.allocation_id, None)
            if held is not None:
                self._hold(held, Amount() - held.amount)

    def _advance(self, allocation_id: str, to: Phase) -> bool:
        if self.phase.get(allocation_id, 0) >= to:
            return False  # met again, or older than what is known: nothing new
        self.phase[allocation_id] = to
        return True

    def _unqueue(self, pool: str, allocation_id: str) -> None:
        self.queued.get(pool, {}).pop(allocation_id, None)

    def _hold(self, ask: Ask, change: Amount) -> None:
        self.held[ask.pool] = self.held.get(ask.pool, Amount()) + change
        key = (ask.pool, ask.team)
        self.held_by[key] = self.held_by.get(key, Amount()) + change

    def queue(self, pool: str) -> list[Ask]:
        """The pool's waiting requests, first in line first."""
        return sorted(self.queued.get(pool, {}).values(), key=lambda a: a.order)


@dataclass(frozen=True)
class Emit:
    """One answer to write: ``ctx.emit(cls, subject=subject, **body)``."""

    cls: type[Message]
    subject: str
    body: dict[str, Any]


def _granted(ask: Ask, pool: Pool) -> Emit:
    body = {
        **ask.fields(),
        "accelerator": pool.accelerator,
        "hardware_class": pool.hardware_class,
        "cost_rate": str(pool.cost_rate),
        "currency": pool.currency,
    }
    return Emit(AllocationGranted, ask.allocation_id, body)


def _requirements(ask: Ask) -> ComputeRequirements:
    return ComputeRequirements(
        pool=ask.pool,
        accelerator=ask.accelerator,
        accelerators=ask.accelerators,
        cpus=ask.cpus,
        memory_gb=ask.memory_gb,
    )


def _scan(state: AllocationState, pool: Pool, asks: Iterable[Ask]) -> tuple[list[Ask], str]:
    """The asks, in order, that can be granted now; and why the first one left
    waiting waits (empty when none does). See the module docstring for the rule."""
    held = state.held.get(pool.name, Amount())
    by_team: dict[str, Amount] = {}
    capacity = Quota(pool.accelerators, pool.cpus, pool.memory_gb)
    waiting_teams: set[str] = set()
    chosen: list[Ask] = []
    reason = ""
    for ask in asks:
        if ask.team in waiting_teams:
            continue
        share = pool.quota_for(ask.team) or Quota(0, 0, 0)
        team_held = by_team.get(ask.team, state.held_by.get((pool.name, ask.team), Amount()))
        if not (team_held + ask.amount).within(share):
            waiting_teams.add(ask.team)
            reason = reason or f"team {ask.team} is at its quota in pool {pool.name}"
            continue
        if not (held + ask.amount).within(capacity):
            reason = reason or f"pool {pool.name} has too little free capacity now"
            break
        chosen.append(ask)
        held = held + ask.amount
        by_team[ask.team] = team_held + ask.amount
    return chosen, reason


def decide_request(
    command: AllocationRequested, state: AllocationState, pools: Pools
) -> list[Emit]:
    """What a request leads to: nothing (seen before), denied, granted or queued.

    Queued requests ahead are scanned with it, so if the pool grew since they were
    queued (a new pools file) they are granted now rather than at the next release.
    """
    if command.allocation_id in state.phase:
        return []  # a redelivery, or an id already used: one answer per allocation
    pool = pools.get(command.pool)
    refusals = request_refusals(command, pools)
    if pool is None or refusals:
        body: dict[str, Any] = {"allocation_id": command.allocation_id, "pool": command.pool}
        body |= {"reasons": messages(refusals), "refusals": refusals}
        return [Emit(AllocationDenied, command.allocation_id, body)]
    ask = Ask.of(command)
    queue = state.queue(pool.name)
    chosen, reason = _scan(state, pool, [*queue, ask])
    out = [_granted(a, pool) for a in chosen]
    if ask not in chosen:
        position = 1 + sum(1 for a in queue if a not in chosen)
        queued = {**ask.fields(), "position": position, "reason": reason}
        out.append(Emit(AllocationQueued, ask.allocation_id, queued))
    return out


def request_refusals(command: AllocationRequested, pools: Pools) -> list[Refusal]:
    """Why a request can never be granted as asked; empty when it can."""
    pool = pools.get(command.pool)
    if pool is None:
        known = ", ".join(sorted(pools))
        return [
            Refusal(
                code=RefusalCode.INVALID,
                field="pool",
                message=f"unknown pool {command.pool!r}; known pools: {known}",
            )
        ]
    return too_big(pool, _requirements(Ask.of(command)), team=command.team)


def decide_release(command: AllocationReleased, state: AllocationState, pools: Pools) -> list[Emit]:
    """What a release leads to: freed, then the grants it makes room for; nothing
    for an allocation never held, already freed, or held in another pool (that
    pool's writer owns it, and this one must not touch its holdings)."""
    allocation_id = command.allocation_id
    held = state.granted.get(allocation_id)
    waiting = state.queued.get(command.pool, {}).get(allocation_id)
    ask = held if held is not None and held.pool == command.pool else waiting
    if ask is None:
        return []
    freed = {"allocation_id": allocation_id, "pool": ask.pool, "team": ask.team}
    out = [Emit(AllocationFreed, allocation_id, {**freed, "was_granted": ask is held})]
    pool = pools.get(ask.pool)
    if pool is None:
        return out  # the pool left the configuration: nothing more to grant there
    after = AllocationState(
        held={**state.held, ask.pool: state.held.get(ask.pool, Amount())},
        held_by=dict(state.held_by),
    )
    if ask is held:
        after.held[ask.pool] = after.held[ask.pool] - ask.amount
        key = (ask.pool, ask.team)
        after.held_by[key] = after.held_by.get(key, Amount()) - ask.amount
    rest = [a for a in state.queue(ask.pool) if a.allocation_id != allocation_id]
    chosen, _ = _scan(after, pool, rest)
    return [*out, *(_granted(a, pool) for a in chosen)]
