"""The built-in pre-train policy: each rule's allowed case and its refusals, several
datasets with mixed problems, and the input the training worker really builds."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from covenant.events.datasets import DatasetRegistered, ProvenanceReview
from covenant.events.policy import PolicyStage
from covenant.events.refusals import RefusalCode
from covenant.events.training import SubmitTraining
from covenant.policy import Decision, Policy, decide, evaluate, load_policies
from covenant.testing import builders
from covenant.training.decisions import policy_input, queued_job
from covenant.training.jobs import TrainingState

PII = "dataset-pii-unapproved"
LICENCE = "dataset-licence-forbids-training"
PROVENANCE = "dataset-provenance-unreviewed"


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policies()[PolicyStage.PRE_TRAIN]


def dataset(**overrides: Any) -> dict[str, Any]:
    """A dataset's facts that every rule lets through, with ``overrides``."""
    facts: dict[str, Any] = {
        "license": "CC-BY-4.0",
        "pii_flags": [],
        "clearance": "allowed",
        "provenance_review": "passed",
        "approved": False,
        "checksum": "sha256:" + "ab" * 32,
    }
    return facts | overrides


def document(datasets: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    request = {
        "job_id": "job-1",
        "model_family": "fraud",
        "team": "risk",
        "dataset_refs": list(datasets),
        "code_repo": "git@example.com:fraud.git",
        "code_commit": "0" * 40,
        "entrypoint": "train:main",
        "hyperparams": {"lr": "0.1"},
        "seed": 7,
        "compute": {
            "pool": None,
            "accelerator": None,
            "accelerators": 0,
            "cpus": 1.0,
            "memory_gb": 1.0,
            "workers": 1,
            "executor": None,
        },
        "retrain_reason": None,
        "created_by": "alice",
    }
    return {"request": request, "facts": {"datasets": dict(datasets)}}


def judged(policy: Policy, **datasets: dict[str, Any]) -> Decision:
    return evaluate(policy, document(datasets))


def rules(decision: Decision) -> list[tuple[str, str]]:
    """(rule id, the dataset its reason names first) for each match."""
    return [(m.rule_id, m.reason.split()[1].removesuffix("'s")) for m in decision.matched]


def test_clean_data_is_allowed(policy: Policy) -> None:
    decision = judged(policy, sales=dataset(), web=dataset(license="MIT"))
    assert decision == Decision(allowed=True, policy_version="2026.12.1")


def test_no_datasets_at_all_is_allowed(policy: Policy) -> None:
    assert judged(policy).allowed


def test_pii_without_approval_is_refused(policy: Policy) -> None:
    decision = judged(policy, users=dataset(pii_flags=["email", "phone"]))
    assert not decision.allowed
    assert rules(decision) == [(PII, "users")]
    (refusal,) = decision.refusals
    assert refusal.code is RefusalCode.POLICY
    assert refusal.field == "datasetRefs"
    assert refusal.message.startswith("dataset users is flagged for PII and not approved")
    assert refusal.message.endswith(f"(policy rule {PII})")


def test_approved_pii_is_allowed(policy: Policy) -> None:
    assert judged(policy, users=dataset(pii_flags=["email"], approved=True)).allowed


@pytest.mark.parametrize(
    "licence",
    [
        "LicenseRef-no-training",
        "LicenseRef-research-only-no-ml",
        "LicenseRef-evaluation-only",
        "LicenseRef-tdm-opt-out",
        "LicenseRef-no-derivatives-no-ml",
    ],
)
def test_a_licence_that_forbids_training_is_refused_even_when_approved(
    policy: Policy, licence: str
) -> None:
    decision = judged(policy, books=dataset(license=licence, approved=True))
    assert rules(decision) == [(LICENCE, "books")]
    assert decision.matched[0].reason == (
        f"dataset books is licensed {licence}, which forbids training; train without it"
    )


def test_the_licence_list_is_a_parameter(policy: Policy) -> None:
    assert "LicenseRef-no-training" in policy.params["no_training_licences"]
    assert judged(policy, books=dataset(license="LicenseRef-commercial-ok")).allowed


@pytest.mark.parametrize(
    ("review", "reads"),
    [("pending", "pending"), ("failed", "failed"), (None, "missing (never reviewed)")],
)
def test_unreviewed_provenance_without_approval_is_refused(
    policy: Policy, review: str | None, reads: str
) -> None:
    decision = judged(policy, scraped=dataset(provenance_review=review))
    assert rules(decision) == [(PROVENANCE, "scraped")]
    assert decision.matched[0].reason.startswith(
        f"dataset scraped's provenance review is {reads}, not passed,"
    )


@pytest.mark.parametrize("review", ["pending", "failed", None])
def test_approval_lifts_the_provenance_rule(policy: Policy, review: str | None) -> None:
    assert judged(policy, scraped=dataset(provenance_review=review, approved=True)).allowed


def test_every_problem_of_every_dataset_is_listed(policy: Policy) -> None:
    decision = judged(
        policy,
        ok=dataset(),
        users=dataset(pii_flags=["email"]),
        books=dataset(license="LicenseRef-no-training", provenance_review=None),
        web=dataset(pii_flags=["ip"], provenance_review="pending"),
        cleared=dataset(pii_flags=["email"], provenance_review="failed", approved=True),
    )
    assert not decision.allowed
    assert rules(decision) == [
        (PII, "users"),
        (PII, "web"),
        (LICENCE, "books"),
        (PROVENANCE, "books"),
        (PROVENANCE, "web"),
    ]
    assert [r.message.split(" (policy rule")[0] for r in decision.refusals] == [
        m.reason for m in decision.matched
    ]
    assert all(r.field == "datasetRefs" for r in decision.refusals)


def test_a_dataset_named_twice_is_reported_once(policy: Policy) -> None:
    doc = document({"users": dataset(pii_flags=["email"])})
    doc["request"]["dataset_refs"] = ["users", "users"]
    assert rules(evaluate(policy, doc)) == [(PII, "users")]


def test_a_dataset_without_facts_fails_closed(policy: Policy) -> None:
    doc = document({"ok": dataset()})
    doc["request"]["dataset_refs"].append("ghost")
    decision = evaluate(policy, doc)
    assert not decision.allowed
    assert decision.matched == []
    assert len(decision.refusals) == 3  # each rule looked the ghost up
    assert all("could not be evaluated (KeyError: 'ghost')" in r.message for r in decision.refusals)


def test_the_same_input_gets_the_same_decision(policy: Policy) -> None:
    doc = json.dumps(document({"users": dataset(pii_flags=["a"]), "b": dataset(license="x")}))
    first = decide({PolicyStage.PRE_TRAIN: policy}, stage=PolicyStage.PRE_TRAIN, input_json=doc)
    again = decide({PolicyStage.PRE_TRAIN: policy}, stage=PolicyStage.PRE_TRAIN, input_json=doc)
    assert first == again


def registered(
    dataset_id: str, review: ProvenanceReview = ProvenanceReview.PASSED, **kw: Any
) -> DatasetRegistered:
    event = builders.dataset_registered(dataset_id, provenance_review=review, **kw)
    # Set on the event itself, whatever the builder's default: the policy input reads it.
    return event.model_copy(update={"provenance_review": review})


def test_the_training_workers_input_is_judged(policy: Policy) -> None:
    """The document ``covenant.training`` really sends, from real dataset events."""
    state = TrainingState()
    for event in (
        registered("clean:v1"),
        registered("users:v1", pii=True),
        registered("web:v1", ProvenanceReview.PENDING),
        registered("books:v1", license="LicenseRef-no-training"),
        registered("approved:v1", pii=True),
        builders.dataset_cleared("approved:v1"),
    ):
        state.apply(event)
    command = SubmitTraining.create(
        subject="job:j1",
        actor="alice",
        producer="gateway",
        job_id="j1",
        model_family="fraud",
        team="risk",
        dataset_refs=["clean:v1", "users:v1", "web:v1", "books:v1", "approved:v1"],
        code_ref="git@example.com:fraud.git#" + "a" * 40,
        entrypoint="train:main",
    )
    input_json = policy_input(queued_job(command, state), state)
    decision = decide(
        {PolicyStage.PRE_TRAIN: policy}, stage=PolicyStage.PRE_TRAIN, input_json=input_json
    )
    assert rules(decision) == [
        (PII, "users:v1"),
        (LICENCE, "books:v1"),
        (PROVENANCE, "web:v1"),
    ]
