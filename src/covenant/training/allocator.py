"""The built-in Resource Allocator: a thin worker over ``allocation``'s rules.

``allocation.requested`` and ``allocation.released`` are keyed by pool, so one
instance owns each pool at a time and is the single writer of its grants; its
state is folded from its own answers (``AllocationState``), caught up before
every batch, so a pool handed to another instance is judged on every grant
committed before. That is what keeps holdings within a pool's capacity and a
team's quota however many jobs ask at once. The answers are keyed by allocation
id (the job id), so they reach the job's own writer in the training worker.

An external Resource Allocator can replace this one: stop running ``allocator``
and have it consume ``covenant.cmd.allocation`` and write ``covenant.evt.allocation``
with the same messages; nothing else changes.
"""

from __future__ import annotations

from covenant.events.allocation import AllocationReleased, AllocationRequested
from covenant.events.base import Message
from covenant.runtime.worker import Context, Worker
from covenant.topics import ALLOCATION_COMMANDS, ALLOCATION_EVENTS
from covenant.training.allocation import AllocationState, decide_release, decide_request
from covenant.training.pools import Pools


def make_allocator_worker(pools: Pools) -> Worker:
    """A fresh allocator deciding over ``pools`` (``pools_for(settings.pools_path)``),
    with its own state."""
    state = AllocationState()

    async def handle(message: Message, ctx: Context) -> None:
        if isinstance(message, AllocationRequested):
            answers = decide_request(message, state, pools)
        else:
            assert isinstance(message, AllocationReleased)  # the runtime checks ``accepts``
            answers = decide_release(message, state, pools)
        for answer in answers:
            ctx.emit(answer.cls, subject=answer.subject, **answer.body)

    return Worker(
        name="allocator",
        inputs=(ALLOCATION_COMMANDS,),
        outputs=(ALLOCATION_EVENTS,),
        accepts=(AllocationRequested, AllocationReleased),
        handle=handle,
        description="grants compute per pool within capacity and team quotas, queueing the rest",
        state=state,
    )
