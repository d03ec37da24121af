"""Covenant's lineage facts as OpenLineage run events.

OpenLineage is what Marquez, DataHub, Atlan and most lineage tools ingest, so
instead of asking them to learn our Avro contract we translate: a dataset
registration becomes a completed run of a preparation job that read the dataset's
sources and wrote the dataset; a model registration becomes a completed run of
its training job that read its datasets and parent models and wrote the model.
The run id is the Covenant event id (a UUIDv7), so a lineage tool links straight
back to the audit trail. Pure functions: the ``openlineage`` worker puts the
result on a topic and ``covenant lineage export`` writes it to a file.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from covenant.events.base import Message
from covenant.events.datasets import DatasetRegistered
from covenant.events.registry import ModelRegistered

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
    """An input named by URI keeps its scheme and host as the namespace, the way
    OpenLineage names datasets (``s3://bucket``, ``postgres://host``)."""
    parsed = urlparse(ref)
    if parsed.scheme and parsed.netloc:
        return {"namespace": f"{parsed.scheme}://{parsed.netloc}", "name": parsed.path or "/"}
    return {"namespace": NAMESPACE, "name": ref}


def _envelope(message: Message, job: dict[str, Any]) -> dict[str, Any]:
    return {
        "eventType": "COMPLETE",
        "eventTime": message.meta.occurred_at.isoformat(),
        "run": {
            "runId": message.meta.event_id,
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
            {
                "namespace": NAMESPACE,
                "name": f"dataset:{lineage.dataset_id}",
                "facets": {
                    "covenant": _covenant_facet(
                        checksum=lineage.checksum,
                        license=lineage.license,
                        piiFlags=lineage.pii_flags,
                        clearance=message.clearance.value,
                        transformations=steps,
                    )
                },
            }
        ]
        return event
    if isinstance(message, ModelRegistered):
        entry = message.entry
        repo, _, commit = entry.code_ref.partition("#")
        job_facets = {
            "sourceCodeLocation": _facet(
                "SourceCodeLocationJobFacet", type="git", url=repo, version=commit or None
            )
        }
        event = _envelope(
            message, {"namespace": NAMESPACE, "name": f"train:{entry.family}", "facets": job_facets}
        )
        event["inputs"] = [
            {"namespace": NAMESPACE, "name": f"dataset:{ref}"} for ref in entry.lineage.dataset_refs
        ] + [
            {"namespace": NAMESPACE, "name": f"model:{ref}"} for ref in entry.lineage.parent_models
        ]
        event["outputs"] = [
            {
                "namespace": NAMESPACE,
                "name": f"model:{entry.model_id}",
                "facets": {
                    "covenant": _covenant_facet(
                        artifactId=entry.artifact_id,
                        status=entry.status.value,
                        metrics=entry.metrics,
                        codeRef=entry.code_ref,
                    )
                },
            }
        ]
        return event
    return None
