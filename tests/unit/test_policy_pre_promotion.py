"""The built-in pre-promotion policy on the input the promotion worker really builds:
each rule's refusal, export control by region, the high-risk classification, and that
a clean promotion is allowed without multisig."""

from __future__ import annotations

from typing import Any

import pytest

from covenant.events.policy import PolicyStage
from covenant.events.promotion import Environment
from covenant.events.registry import ModelStatus
from covenant.policy import Decision, Policy, decide, load_policies
from covenant.promotion.decisions import policy_input
from covenant.promotion.state import EvaluationView, ModelView
from covenant.testing import builders


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policies()[PolicyStage.PRE_PROMOTION]


def dataset(**overrides: Any) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "license": "CC-BY-4.0",
        "pii_flags": [],
        "provenance_review": "passed",
        "approved": False,
        "checksum": "sha256:" + "ab" * 32,
    }
    return facts | overrides


def judged(
    policy: Policy,
    *,
    target: Environment = Environment.PROD,
    region: str | None = "us-east",
    provenance: dict[str, str] | None = None,
    evaluation: EvaluationView | None = None,
    code_ref: str | None = None,
    **datasets: dict[str, Any] | None,
) -> Decision:
    registered = builders.model_registered(
        "digits:1.0.0", datasets=list(datasets), provenance=provenance, code_ref=code_ref
    )
    document = policy_input(
        promotion_id="p1",
        view=ModelView(registered.entry, ModelStatus.STAGING),
        target=target,
        region=region,
        evaluation=evaluation or EvaluationView("e1", True, facts={"accuracy": 0.97}),
        signature=None,
        datasets={k: v for k, v in datasets.items() if v is not None},
    )
    return decide({PolicyStage.PRE_PROMOTION: policy}, stage=policy.stage, input_json=document)


def ids(decision: Decision) -> list[str]:
    return [m.rule_id for m in decision.matched]


def test_a_clean_promotion_is_allowed_without_multisig(policy: Policy) -> None:
    decision = judged(policy, d1=dataset())
    assert decision.allowed
    assert decision.matched == []
    assert decision.policy_version == policy.version


def test_a_failed_evaluation_is_refused(policy: Policy) -> None:
    decision = judged(policy, evaluation=EvaluationView("e1", False, ("f1",)), d1=dataset())
    assert not decision.allowed
    assert ids(decision) == ["evaluation-not-passed"]


def test_unknown_and_unreviewed_data_leave_provenance_incomplete(policy: Policy) -> None:
    decision = judged(
        policy,
        d1=dataset(provenance_review="pending"),
        d2=None,
        d3=dataset(provenance_review="pending", approved=True),
    )
    assert not decision.allowed
    assert sorted(ids(decision)) == ["dataset-provenance-unreviewed", "dataset-unknown"]
    assert "d2" in decision.matched[0].reason or "d2" in decision.matched[1].reason


def test_a_licence_that_forbids_production_is_refused_naming_it(policy: Policy) -> None:
    decision = judged(policy, d1=dataset(license="CC-BY-NC-4.0"))
    assert ids(decision) == ["dataset-licence-forbids-production"]
    assert "CC-BY-NC-4.0" in decision.refusals[0].message


def test_a_missing_code_ref_is_incomplete_provenance(policy: Policy) -> None:
    assert ids(judged(policy, code_ref="", d1=dataset())) == ["code-ref-missing"]


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        ("eu-west", []),
        ("us-east", ["export-region-not-allowed"]),
        ("us", ["export-region-not-allowed"]),  # no substring match on "us-west"
        ("embargoed-region", ["export-embargoed-region", "export-region-not-allowed"]),
        (None, []),
    ],
)
def test_export_control_by_region(policy: Policy, region: str | None, expected: list[str]) -> None:
    provenance = {"allowed_regions": "eu-west,us-west"}
    decision = judged(policy, region=region, provenance=provenance, d1=dataset())
    assert ids(decision) == expected
    assert decision.allowed is (not expected)


def test_a_high_risk_model_needs_multisig_for_prod_only(policy: Policy) -> None:
    high = {"risk_tier": "high"}
    to_prod = judged(policy, provenance=high, d1=dataset())
    assert to_prod.allowed
    assert [(m.rule_id, m.effect) for m in to_prod.matched] == [
        ("high-risk-needs-multisig", "require_multisig")
    ]
    assert judged(policy, target=Environment.STAGING, provenance=high, d1=dataset()).matched == []


def test_fairness_out_of_bounds_is_refused_naming_the_attribute(policy: Policy) -> None:
    fair = {"demographic_parity_difference": 0.05, "equalized_odds_difference": 0.1}
    unfair = {"demographic_parity_difference": 0.31, "equalized_odds_difference": 0.1}
    facts = {"accuracy": 0.97, "fairness": {"group": fair, "region": unfair}}
    decision = judged(policy, evaluation=EvaluationView("e1", True, facts=facts), d1=dataset())
    assert ids(decision) == ["fairness-out-of-bounds"]
    assert "fairness over region" in decision.matched[0].reason
    assert "0.31" in decision.matched[0].reason
    facts["fairness"] = {"group": fair}
    evaluation = EvaluationView("e1", True, facts=facts)
    assert judged(policy, evaluation=evaluation, d1=dataset()).allowed
