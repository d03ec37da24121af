"""Covenant's lineage facts as OpenLineage run events.

OpenLineage is what Marquez, DataHub, Atlan and most lineage tools ingest, so
instead of asking them to learn our Avro contract we translate: a dataset
registration becomes a completed run of a preparation job that read the dataset's
sources and wrote the dataset; a model registration becomes a completed run of
its training job that read its datasets and parent models and wrote the model.
The run id is the Covenant event id (a UUIDv7), so a lineage tool links straight
back to the audit trail. Pure functions: the ``openlineage`` worker puts the
result on the ``covenant.lineage.openlineage`` topic (``covenant events tail
--topic covenant.lineage.openlineage --json`` prints it).

Every event validates against the official OpenLineage JSON schemas it names
(``tests/openlineage_schema.py`` checks them), and sources that are locations get the
dataset namespace and name every other OpenLineage producer gives them
(:mod:`covenant.lineage._naming`); the datasets and models Covenant registers, and
sources that name no location, live in the ``covenant`` namespace.
"""

from __future__ import annotations

import uuid
from datetime import UTC
from typing import Any

from covenant.events.base import Message
from covenant.events.datasets import DatasetRegistered
from covenant.events.registry import ModelRegistered
from covenant.lineage._code import source_code_location
from covenant.lineage._naming import location_dataset

NAMESPACE = "covenant"
PRODUCER = "https://github.com/covenant-ml/covenant/tree/v0.1.0"
SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
_FACET_SCHEMA = "https://openlineage.io/spec/facets/1-0-1/{name}.json#/$defs/{name}"
_COVENANT_FACET = "https://github.com/covenant-ml/covenant/schemas/lineage-facet-1.json"


def _facet(name: str, **fields: Any) -> dict[str, Any]:
    return {"_producer": PRODUCER, "_schemaURL": _FACET_SCHEMA.format(name=name), **fields}


def _covenant_facet(**fields: Any) -> dict[str, Any]:
    return {"_producer": PRODUCER, "_schemaURL": _COVENANT_FACET, **fields}


def _source(ref: str) -> dict[str, Any]:
    """An input by OpenLineage's naming conventions when it is a location
    (``s3://bucket`` + object key, ``file`` + path), else by its name in ours."""
    identifier = location_dataset(ref)
    if identifier is None:
        return {"namespace": NAMESPACE, "name": ref}
    namespace, name = identifier
    return {"namespace": namespace, "name": name}


def _run_id(event_id: str) -> str:
    """The event id when it is a UUID, as the schema requires; else a UUID derived from it.

    Covenant writes UUIDv7 ids, but a record from another producer may carry any string,
    and one odd id must not make the whole run event invalid.
    """
    try:
        return str(uuid.UUID(event_id))
    except ValueError:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:covenant:event:{event_id}"))


def _output(name: str, **covenant: Any) -> dict[str, Any]:
    """An output dataset of Covenant's namespace, with our facet on it."""
    return {
        "namespace": NAMESPACE,
        "name": name,
        "facets": {"covenant": _covenant_facet(**covenant)},
    }


def _envelope(message: Message, job: dict[str, Any]) -> dict[str, Any]:
    occurred_at = message.meta.occurred_at
    if occurred_at.tzinfo is None:  # the contract says UTC; RFC 3339 needs the offset
        occurred_at = occurred_at.replace(tzinfo=UTC)
    return {
        "eventType": "COMPLETE",
        "eventTime": occurred_at.isoformat(),
        "run": {
            "runId": _run_id(message.meta.event_id),
            "facets": {
                "covenant": _covenant_facet(
                    eventType=message.meta.type,
                    correlationId=message.meta.correlation_id,
                    causationId=message.meta.causation_id,
                    actor=message.meta.actor,
                )
            },
        },
        "job": job,
        "producer": PRODUCER,
        "schemaURL": SCHEMA_URL,
    }


def run_event(message: Message) -> dict[str, Any] | None:
    """The OpenLineage RunEvent for a lineage fact, or None for other records."""
    if isinstance(message, DatasetRegistered):
        lineage = message.lineage
        steps = [
            {"name": t.name, "codeRef": t.code_ref, "checksum": t.checksum}
            for t in lineage.transformations
        ]
        event = _envelope(
            message,
            {"namespace": NAMESPACE, "name": f"prepare:{lineage.dataset_id}", "facets": {}},
        )
        event["inputs"] = [_source(ref) for ref in lineage.source_refs]
        event["outputs"] = [
            _output(
                f"dataset:{lineage.dataset_id}",
                checksum=lineage.checksum,
                license=lineage.license,
                piiFlags=lineage.pii_flags,
                clearance=message.clearance.value,
                transformations=steps,
            )
        ]
        return event
    if isinstance(message, ModelRegistered):
        entry = message.entry
        location = source_code_location(entry.code_ref)
        job_facets = (
            {}
            if location is None
            else {"sourceCodeLocation": _facet("SourceCodeLocationJobFacet", **location)}
        )
        event = _envelope(
            message, {"namespace": NAMESPACE, "name": f"train:{entry.family}", "facets": job_facets}
        )
        event["inputs"] = [
            {"namespace": NAMESPACE, "name": f"dataset:{ref}"} for ref in entry.lineage.dataset_refs
        ] + [
            {"namespace": NAMESPACE, "name": f"model:{ref}"} for ref in entry.lineage.parent_models
        ]
        event["outputs"] = [
            _output(
                f"model:{entry.model_id}",
                artifactId=entry.artifact_id,
                status=entry.status.value,
                metrics=entry.metrics,
                codeRef=entry.code_ref,
            )
        ]
        return event
    return None
