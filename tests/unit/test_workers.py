"""The decisions of the dataset and registry workers, without a log."""

from __future__ import annotations

from typing import Any

import pytest

from covenant.events.datasets import (
    DatasetRegistered,
    DatasetRejected,
    ProvenanceReview,
    RegisterDataset,
    TrainingClearance,
    Transformation,
)
from covenant.events.registry import ModelRegistered, ModelRejected, ModelStatus, RegisterModel
from covenant.runtime.worker import Context
from covenant.semver import is_semver
from covenant.workers import DATASETS, REGISTRY, worker_named

SHA = "sha256:" + "0" * 64


def dataset(**overrides: Any) -> RegisterDataset:
    body: dict[str, Any] = {
        "dataset_id": "d:1",
        "artifact_id": SHA,
        "license": "CC-BY-4.0",
        "provenance_review": ProvenanceReview.PASSED,
    } | overrides
    message: RegisterDataset = RegisterDataset.create(
        subject="dataset:d:1", actor="alice", producer="t", **body
    )
    return message


def model(**overrides: Any) -> RegisterModel:
    body: dict[str, Any] = {
        "family": "vit",
        "version": "1.0.0",
        "code_ref": "git@x#abc",
        "artifact_id": SHA,
    } | overrides
    message: RegisterModel = RegisterModel.create(
        subject="model:vit", actor="bob", producer="t", **body
    )
    return message


async def run(worker: Any, message: Any) -> list[Any]:
    ctx = Context(worker=worker.name, cause=message)
    await worker.handle(message, ctx)
    return ctx.emitted


async def test_clean_reviewed_dataset_is_allowed_and_links_its_cause() -> None:
    command = dataset()
    (event,) = await run(DATASETS, command)
    assert isinstance(event, DatasetRegistered)
    assert event.clearance is TrainingClearance.ALLOWED
    assert event.lineage.checksum == SHA
    assert event.lineage.created_by == "alice"
    assert event.meta.causation_id == command.meta.event_id
    assert event.meta.correlation_id == command.meta.correlation_id
    assert event.meta.producer == "datasets"


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"pii_flags": ["email"]}, "PII"),
        ({"provenance_review": ProvenanceReview.PENDING}, "provenance review is pending"),
        ({"provenance_review": ProvenanceReview.FAILED}, "provenance review is failed"),
    ],
)
async def test_pii_or_unreviewed_dataset_is_registered_blocked(
    overrides: dict[str, Any], reason: str
) -> None:
    (event,) = await run(DATASETS, dataset(**overrides))
    assert isinstance(event, DatasetRegistered)
    assert event.clearance is TrainingClearance.BLOCKED
    assert any(reason in r for r in event.block_reasons)


async def test_invalid_dataset_is_rejected_with_every_reason() -> None:
    bad_step = Transformation(name="clean", code_ref="c", checksum="md5:abc")
    (event,) = await run(
        DATASETS, dataset(artifact_id="../etc/passwd", license=" ", transformations=[bad_step])
    )
    assert isinstance(event, DatasetRejected)
    assert len(event.reasons) == 3


async def test_valid_model_is_registered_as_draft() -> None:
    (event,) = await run(REGISTRY, model(metrics={"acc": 0.5}))
    assert isinstance(event, ModelRegistered)
    assert event.entry.model_id == "vit:1.0.0"
    assert event.entry.status is ModelStatus.DRAFT
    assert event.entry.metrics == {"acc": 0.5}


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"version": "1.0"}, "SemVer"),
        ({"version": "v1.0.0"}, "SemVer"),
        ({"family": "Bad Family!"}, "family"),
        ({"code_ref": ""}, "code_ref"),
        ({"signer_id": "ed25519:abc"}, "signer_id and signature"),
    ],
)
async def test_invalid_model_is_rejected(overrides: dict[str, Any], needle: str) -> None:
    (event,) = await run(REGISTRY, model(**overrides))
    assert isinstance(event, ModelRejected)
    assert any(needle in r for r in event.reasons)


@pytest.mark.parametrize(
    ("version", "valid"),
    [
        ("1.0.0", True),
        ("0.0.1-alpha.1+build.5", True),
        ("10.20.30", True),
        ("1.0", False),
        ("01.0.0", False),
        ("1.0.0-", False),
        ("v1.0.0", False),
    ],
)
def test_semver(version: str, valid: bool) -> None:
    assert is_semver(version) is valid


def test_unknown_worker_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="datasets"):
        worker_named("nope")
