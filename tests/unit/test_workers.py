"""The decisions of the dataset and registry workers, without a log."""

from __future__ import annotations

from typing import Any

import pytest

from covenant.catalog.semver import is_semver
from covenant.events.artifacts import ArtifactStored
from covenant.events.datasets import (
    DatasetCleared,
    DatasetRegistered,
    DatasetRejected,
    ProvenanceReview,
    RegisterDataset,
    TrainingClearance,
    Transformation,
)
from covenant.events.registry import ModelRegistered, ModelRejected, ModelStatus, RegisterModel
from covenant.platform import build_workers
from covenant.runtime.worker import Context, Worker
from covenant.testing import builders

SHA = "sha256:" + "0" * 64


def dataset(**overrides: Any) -> RegisterDataset:
    return builders.register_dataset("d:1", **({"artifact_id": SHA, "actor": "alice"} | overrides))


def model(*, family: str = "vit", version: str = "1.0.0", **overrides: Any) -> RegisterModel:
    body = {"code_ref": "git@x#abc", "artifact_id": SHA, "actor": "bob"} | overrides
    return builders.register_model(f"{family}:{version}", **body)


def stored(artifact_id: str = SHA) -> ArtifactStored:
    return builders.artifact_stored("x", artifact_id=artifact_id)


def worker_with(name: str, *known: Any) -> Worker:
    """A fresh worker whose state has folded ``known`` events (as from the log)."""
    (worker,) = build_workers([name])
    assert worker.state is not None
    for event in (stored(), *known):
        worker.state.apply(event)
    return worker


async def run(worker: Worker, message: Any) -> list[Any]:
    """Handle one record the way the runtime does, folding it and its outputs."""
    ctx = Context(worker=worker.name, cause=message)
    await worker.handle(message, ctx)
    if worker.state is not None:
        worker.state.apply(message)
        for emitted in ctx.emitted:
            worker.state.apply(emitted)
    return ctx.emitted


async def test_clean_reviewed_dataset_is_allowed_and_links_its_cause() -> None:
    command = dataset()
    (event,) = await run(worker_with("datasets"), command)
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
    (event,) = await run(worker_with("datasets"), dataset(**overrides))
    assert isinstance(event, DatasetRegistered)
    assert event.clearance is TrainingClearance.BLOCKED
    assert any(reason in r for r in event.block_reasons)


async def test_invalid_dataset_is_rejected_with_every_reason() -> None:
    bad_step = Transformation(name="clean", code_ref="c", checksum="md5:abc")
    (event,) = await run(
        worker_with("datasets"),
        dataset(artifact_id="../etc/passwd", license=" ", transformations=[bad_step]),
    )
    assert isinstance(event, DatasetRejected)
    assert len(event.reasons) == 3


async def test_valid_model_is_registered_as_draft() -> None:
    (event,) = await run(worker_with("registry"), model(metrics={"acc": 0.5}))
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
    (event,) = await run(worker_with("registry"), model(**overrides))
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
        build_workers(["nope"])


async def test_dataset_ids_are_unique_and_retries_are_idempotent() -> None:
    worker = worker_with("datasets")
    first = dataset(idempotency_key="req-1")
    (registered,) = await run(worker, first)
    assert isinstance(registered, DatasetRegistered)
    assert await run(worker, dataset(idempotency_key="req-1")) == []
    (again,) = await run(worker, dataset(idempotency_key="req-2"))
    assert isinstance(again, DatasetRejected)
    assert "already registered" in again.reasons[0]


async def test_dataset_bytes_must_be_a_stored_artifact() -> None:
    (event,) = await run(worker_with("datasets"), dataset(artifact_id="sha256:" + "9" * 64))
    assert isinstance(event, DatasetRejected)
    assert "not stored" in event.reasons[0]


async def test_a_blocked_dataset_is_cleared_by_an_approval_with_a_reason() -> None:
    worker = worker_with("datasets")
    await run(worker, dataset(pii_flags=["email"]))

    async def approve(reason: str) -> Any:
        command = builders.approve_dataset("d:1", reason=reason, actor="dpo")
        (event,) = await run(worker, command)
        return event

    refused = await approve(" ")
    assert isinstance(refused, DatasetRejected)
    cleared = await approve("PII escrowed; sanitized derivative checked")
    assert isinstance(cleared, DatasetCleared)
    assert cleared.approved_by == "dpo"
    twice = await approve("again")
    assert isinstance(twice, DatasetRejected)
    assert "not blocked" in twice.reasons[0]


async def test_model_versions_are_unique_and_lineage_must_exist() -> None:
    registered_dataset = builders.dataset_registered("d:1", checksum=SHA, license="MIT", actor="a")
    worker = worker_with("registry", registered_dataset)
    (first,) = await run(worker, model(datasets=["d:1"]))
    assert isinstance(first, ModelRegistered)
    (dup,) = await run(worker, model())
    assert isinstance(dup, ModelRejected)
    assert "already registered" in dup.reasons[0]
    (child,) = await run(worker, model(version="1.1.0", parents=["vit:1.0.0"]))
    assert isinstance(child, ModelRegistered)
    (orphan,) = await run(
        worker,
        model(
            version="2.0.0",
            artifact_id="sha256:" + "7" * 64,
            datasets=["d:404"],
            parents=["vit:0.1.0"],
        ),
    )
    assert isinstance(orphan, ModelRejected)
    assert len(orphan.reasons) == 3
    assert any("unknown dataset 'd:404'" in r for r in orphan.reasons)
    assert any("unknown parent model 'vit:0.1.0'" in r for r in orphan.reasons)
    assert any("is not stored" in r for r in orphan.reasons)
