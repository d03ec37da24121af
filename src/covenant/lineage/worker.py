"""Publishes lineage facts as OpenLineage run events on an export topic.

Lineage tools subscribe to ``covenant.lineage.openlineage`` (plain JSON, one run
event per record, keyed by the entity) and never need our Avro contract.
"""

from __future__ import annotations

import json

from covenant.events.base import Message
from covenant.events.datasets import DatasetCleared, DatasetRegistered, DatasetRejected
from covenant.events.registry import ModelRegistered, ModelRejected
from covenant.lineage.openlineage import run_event
from covenant.runtime.worker import Context, Worker
from covenant.topics import DATASET_EVENTS, MODEL_EVENTS, OPENLINEAGE


def make_openlineage_worker() -> Worker:
    """The OpenLineage exporter; stateless."""

    async def handle(message: Message, ctx: Context) -> None:
        event = run_event(message)
        if event is not None:
            ctx.emit_raw(
                OPENLINEAGE,
                key=message.meta.subject.encode(),
                value=json.dumps(event, sort_keys=True).encode(),
            )

    return Worker(
        name="openlineage",
        inputs=(DATASET_EVENTS, MODEL_EVENTS),
        outputs=(OPENLINEAGE,),
        accepts=(
            DatasetRegistered,
            DatasetRejected,
            DatasetCleared,
            ModelRegistered,
            ModelRejected,
        ),
        handle=handle,
        description="publishes dataset and model lineage as OpenLineage run events",
    )
