"""``covenant.testing``'s log helpers, used the way a user tests their own service.

The service under test is a tiny subscriber written against Covenant's public
pieces: it follows ``covenant.evt.dataset`` and approves, on the team's behalf,
datasets that come from the team's own warehouse and are blocked only because
their provenance review is pending. Covenant's real datasets worker then clears
them. Everything runs on the real embedded log.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from covenant.bus import Bus
from covenant.events.base import Message
from covenant.events.datasets import (
    ApproveDataset,
    DatasetCleared,
    DatasetRegistered,
    DatasetRejected,
    ProvenanceReview,
)
from covenant.platform import build_workers
from covenant.runtime.worker import Context, Worker
from covenant.testing import (
    FrozenClock,
    SequentialIds,
    builders,
    collect,
    drain,
    embedded_log,
    publish,
    running,
    wait_for,
)
from covenant.topics import DATASET_COMMANDS, DATASET_EVENTS, MODEL_EVENTS

WAREHOUSE = "s3://warehouse/"
PENDING = "provenance review is pending, not passed"


def auto_approver() -> Worker:
    """The user's service: one small Covenant worker."""

    async def handle(message: Message, ctx: Context) -> None:
        if not isinstance(message, DatasetRegistered):
            return  # clearances and rejections need no answer
        lineage = message.lineage
        ours = bool(lineage.source_refs) and all(
            ref.startswith(WAREHOUSE) for ref in lineage.source_refs
        )
        if ours and message.block_reasons == [PENDING]:
            ctx.emit(
                ApproveDataset,
                dataset_id=lineage.dataset_id,
                reason="built from our warehouse; provenance is ours",
            )

    return Worker(
        name="auto-approver",
        inputs=(DATASET_EVENTS,),
        outputs=(DATASET_COMMANDS,),
        accepts=(DatasetRegistered, DatasetCleared, DatasetRejected),
        handle=handle,
    )


async def test_a_subscriber_service_reacts_to_registered_datasets(tmp_path: Path) -> None:
    clock, ids = FrozenClock(), SequentialIds()
    warehouse = builders.dataset_registered(
        "sales:v1",
        source_refs=[f"{WAREHOUSE}sales/2025"],
        provenance_review=ProvenanceReview.PENDING,
        clock=clock,
        ids=ids,
    )
    scraped = builders.dataset_registered(  # pending too, but not ours
        "web:v1", source_refs=["https://example.com/dump"],
        provenance_review=ProvenanceReview.PENDING, clock=clock, ids=ids,
    )  # fmt: skip
    personal = builders.dataset_registered(  # ours, but PII needs a person
        "crm:v1", source_refs=[f"{WAREHOUSE}crm"], pii=True,
        provenance_review=ProvenanceReview.PENDING, clock=clock, ids=ids,
    )  # fmt: skip
    clean = builders.dataset_registered(
        "clean:v1", source_refs=[f"{WAREHOUSE}clean"], clock=clock, ids=ids
    )
    assert warehouse.block_reasons == [PENDING]

    async with embedded_log(tmp_path) as bus:
        await publish(bus, warehouse, scraped, personal, clean)
        workers = [auto_approver(), *build_workers(["datasets"])]
        async with running(bus, workers):
            cleared = await wait_for(bus, DatasetCleared, lambda e: e.dataset_id == "sales:v1")
            await drain(bus, workers)

        (approval,) = await collect(bus, DATASET_COMMANDS)
        assert isinstance(approval, ApproveDataset)
        assert approval.dataset_id == "sales:v1"
        assert approval.meta.causation_id == warehouse.meta.event_id == SequentialIds.id_of(1)
        assert approval.meta.producer == "auto-approver"
        assert cleared.meta.causation_id == approval.meta.event_id
        assert cleared.approved_by == warehouse.meta.actor
        events = await collect(bus, DATASET_EVENTS)
        assert [e for e in events if isinstance(e, DatasetCleared)] == [cleared]
        assert len(events) == 5  # the four registrations and one clearance


async def test_helpers_read_back_what_they_publish(bus: Bus) -> None:
    """The helpers take any ``Bus``: the same test runs on the embedded log and Kafka."""
    await bus.ensure_topics([DATASET_EVENTS, MODEL_EVENTS])
    ids = SequentialIds()
    models = [builders.model_registered(f"vit:1.{i}.0", ids=ids) for i in range(3)]
    positions = await publish(bus, *models)
    assert [p.topic for p in positions] == [MODEL_EVENTS.name] * 3
    got = await collect(bus, MODEL_EVENTS, until=lambda ms: len(ms) == 3, timeout_s=60)
    assert sorted(m.meta.event_id for m in got) == [m.meta.event_id for m in models]
    second = await wait_for(bus, type(models[1]), lambda e: e.entry.version == "1.1.0")
    assert second == models[1]
    assert await collect(bus, [DATASET_EVENTS]) == []


async def test_waits_fail_with_what_they_saw(tmp_path: Path) -> None:
    async with embedded_log(tmp_path) as bus:
        await publish(bus, builders.dataset_rejected("d1"))
        with pytest.raises(TimeoutError, match=r"dataset\.cleared.*dataset\.rejected dataset:d1"):
            await wait_for(bus, DatasetCleared, timeout_s=0.2)
        with pytest.raises(TimeoutError, match="read nothing"):
            await collect(bus, MODEL_EVENTS, until=bool, timeout_s=0.2)
        assert await collect(bus, DATASET_EVENTS, until=lambda ms: True) == []
