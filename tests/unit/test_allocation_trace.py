"""A grant made while another job's release is handled still joins the trace
(correlation id) and names the principal of the job that asked for it."""

from __future__ import annotations

from typing import Any

from covenant.events.allocation import AllocationGranted, AllocationReleased, AllocationRequested
from covenant.events.base import Message
from covenant.runtime.worker import Context
from covenant.training.allocator import make_allocator_worker
from covenant.training.pools import default_pools


async def handle(worker: Any, message: Message) -> list[Any]:
    ctx = Context(worker=worker.name, cause=message)
    await worker.handle(message, ctx)
    for emitted in ctx.emitted:
        worker.state.apply(emitted)
    return ctx.emitted


def request(job: str, actor: str) -> AllocationRequested:
    return AllocationRequested.create(  # type: ignore[no-any-return]
        subject="cpu-local",
        actor=actor,
        producer="training",
        correlation_id=f"flow-{job}",
        allocation_id=job,
        pool="cpu-local",
        team="vision",
        cpus=2.0,
    )


async def test_a_queued_request_is_granted_in_its_own_flow_and_name() -> None:
    worker = make_allocator_worker(default_pools(cpu_count=2, memory_gb=8))
    (first,) = await handle(worker, request("job-a", "alice"))
    assert isinstance(first, AllocationGranted)
    (queued,) = await handle(worker, request("job-b", "bob"))
    assert queued.meta.correlation_id == "flow-job-b"
    release = AllocationReleased.create(
        subject="cpu-local",
        actor="alice",
        producer="training",
        correlation_id="flow-job-a",
        allocation_id="job-a",
        pool="cpu-local",
        team="vision",
    )
    out = await handle(worker, release)
    (grant,) = [m for m in out if isinstance(m, AllocationGranted)]
    assert grant.allocation_id == "job-b"
    assert (grant.meta.correlation_id, grant.meta.actor) == ("flow-job-b", "bob")
    assert grant.meta.causation_id == release.meta.event_id
