"""Lineage facts become valid OpenLineage run events."""

from __future__ import annotations

import uuid

from covenant.events.base import utc_now
from covenant.events.datasets import (
    DatasetLineage,
    DatasetRegistered,
    DatasetRejected,
    TrainingClearance,
    Transformation,
)
from covenant.events.registry import ModelLineage, ModelRegistered, ModelRegistryEntry, ModelStatus
from covenant.lineage.openlineage import SCHEMA_URL, run_event

SHA = "sha256:" + "1" * 64


def test_dataset_registration_is_a_preparation_run() -> None:
    event = DatasetRegistered.create(
        subject="dataset:d:1",
        actor="alice",
        producer="datasets",
        lineage=DatasetLineage(
            dataset_id="d:1",
            source_refs=["s3://raw/d/2026", "orders-db"],
            transformations=[Transformation(name="dedupe", code_ref="git@x:p.git#1", checksum=SHA)],
            checksum=SHA,
            license="MIT",
            pii_flags=["email"],
            created_at=utc_now(),
            created_by="alice",
        ),
        clearance=TrainingClearance.BLOCKED,
    )
    run = run_event(event)
    assert run is not None
    assert run["eventType"] == "COMPLETE"
    assert run["schemaURL"] == SCHEMA_URL
    assert uuid.UUID(run["run"]["runId"]).version == 7
    assert run["job"] == {"namespace": "covenant", "name": "prepare:d:1", "facets": {}}
    assert run["inputs"] == [
        {"namespace": "s3://raw", "name": "/d/2026"},
        {"namespace": "covenant", "name": "orders-db"},
    ]
    (output,) = run["outputs"]
    assert output["name"] == "dataset:d:1"
    facet = output["facets"]["covenant"]
    assert facet["checksum"] == SHA
    assert facet["clearance"] == "blocked"
    assert facet["transformations"][0]["codeRef"] == "git@x:p.git#1"
    assert {"_producer", "_schemaURL"} <= set(facet)


def test_model_registration_is_a_training_run_reading_datasets_and_parents() -> None:
    entry = ModelRegistryEntry(
        model_id="vit:1.1.0",
        family="vit",
        version="1.1.0",
        code_ref="git@example.com:ml/vit.git#9d1e2b7",
        artifact_id=SHA,
        metrics={"top1": 0.9},
        created_at=utc_now(),
        created_by="bob",
        status=ModelStatus.DRAFT,
        lineage=ModelLineage(dataset_refs=["d:1"], parent_models=["vit:1.0.0"]),
    )
    run = run_event(ModelRegistered.create(subject="m", actor="bob", producer="r", entry=entry))
    assert run is not None
    assert run["job"]["name"] == "train:vit"
    source = run["job"]["facets"]["sourceCodeLocation"]
    assert (source["url"], source["version"]) == ("git@example.com:ml/vit.git", "9d1e2b7")
    assert [i["name"] for i in run["inputs"]] == ["dataset:d:1", "model:vit:1.0.0"]
    assert run["outputs"][0]["name"] == "model:vit:1.1.0"
    assert run["outputs"][0]["facets"]["covenant"]["artifactId"] == SHA


def test_other_records_are_not_lineage() -> None:
    rejected = DatasetRejected.create(
        subject="d", actor="a", producer="p", dataset_id="d", reasons=["no"]
    )
    assert run_event(rejected) is None
