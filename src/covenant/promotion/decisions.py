"""The promotion rules, pure: facts in, the reasons a promotion is blocked out.

The worker checks these itself, at once when a request arrives and again when the
last answer it waited for comes in (the model may have moved meanwhile):

* the ladder: sandbox → staging → prod, one step at a time, never from deprecated;
* the latest evaluation of the version exists and passed its family's gates;
* a manifest signature exists, verifies with its public key, is about this very
  version, and — for staging and prod — was made by an HSM or KMS key.

SentinelNet's clearance (the pre-promotion policy) and multisig come in between, as
answers the worker waits for. Every failed check is reported, each with its own
:class:`~covenant.events.promotion.PromotionCheck`, so a blocked request learns all
its problems at once and a test can tell them apart.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from covenant.events.promotion import (
    Environment,
    KeyCustody,
    ManifestSignature,
    PromotionCheck,
    PromotionReason,
)
from covenant.events.registry import ModelRegistryEntry, ModelStatus
from covenant.promotion.state import EvaluationView, ModelView

__all__ = [
    "STATUS_OF",
    "ManifestCheck",
    "blocking_reasons",
    "demotion_problem",
    "deprecation_problem",
    "policy_input",
]

STATUS_OF: dict[Environment, ModelStatus] = {
    Environment.SANDBOX: ModelStatus.DRAFT,
    Environment.STAGING: ModelStatus.STAGING,
    Environment.PROD: ModelStatus.PROD,
}
"""The registry status a version has in each environment (the sandbox is draft)."""

_LADDER = (ModelStatus.DRAFT, ModelStatus.STAGING, ModelStatus.PROD)
_TRUSTED_CUSTODY = (KeyCustody.HSM, KeyCustody.KMS)

ManifestCheck = Callable[[ManifestSignature, ModelRegistryEntry], str | None]
"""Why a signature is not a valid manifest of the registered version, or None."""


def _reason(check: PromotionCheck, message: str) -> PromotionReason:
    return PromotionReason(check=check, message=message)


def _order(view: ModelView, target: Environment) -> PromotionReason | None:
    status = view.status
    if status is ModelStatus.DEPRECATED:
        return _reason(
            PromotionCheck.DEPRECATED,
            f"{view.entry.model_id} is deprecated; register a new version to promote",
        )
    wanted = STATUS_OF[target]
    if target is Environment.SANDBOX or _LADDER.index(wanted) <= _LADDER.index(status):
        return _reason(
            PromotionCheck.ORDER,
            f"{view.entry.model_id} is already {status.value}; a promotion goes up the "
            f"ladder (sandbox → staging → prod) and {target.value} is not above it "
            "(use model.demote to go down)",
        )
    below = _LADDER[_LADDER.index(wanted) - 1]
    if status is not below:
        return _reason(
            PromotionCheck.ORDER,
            f"{view.entry.model_id} is {status.value}; it must be {below.value} before "
            f"{target.value} (promote it to staging first: no step is skipped)",
        )
    return None


def _evaluation(view: ModelView, evaluation: EvaluationView | None) -> PromotionReason | None:
    if evaluation is None:
        return _reason(
            PromotionCheck.EVALUATION_MISSING,
            f"{view.entry.model_id} has no evaluation; run one (POST /eval/run) first",
        )
    if not evaluation.passed:
        gates = ", ".join(evaluation.failed_gates) or "its gates"
        return _reason(
            PromotionCheck.EVALUATION_FAILED,
            f"evaluation {evaluation.eval_id} of {view.entry.model_id} failed {gates}; "
            "only a version whose latest evaluation passed is promoted",
        )
    return None


def _signature(
    view: ModelView,
    target: Environment,
    signature: ManifestSignature | None,
    check: ManifestCheck,
) -> PromotionReason | None:
    model_id = view.entry.model_id
    if signature is None:
        return _reason(
            PromotionCheck.SIGNATURE_MISSING,
            f"{model_id} has no signed manifest; sign it (covenant models sign) first",
        )
    problem = check(signature, view.entry)
    if problem is not None:
        return _reason(
            PromotionCheck.SIGNATURE_INVALID,
            f"the manifest signature of {model_id} by {signature.signer_id} is not "
            f"valid: {problem}",
        )
    if signature.custody not in _TRUSTED_CUSTODY:
        return _reason(
            PromotionCheck.SIGNATURE_DEVELOPMENT_KEY,
            f"{model_id} is signed by {signature.signer_id}, a {signature.custody.value} "
            f"key; {target.value} needs a signature from an HSM or KMS key "
            "(configure COVENANT_SIGNER and sign again)",
        )
    return None


def blocking_reasons(
    view: ModelView | None,
    *,
    model_id: str,
    target: Environment,
    evaluation: EvaluationView | None,
    signature: ManifestSignature | None,
    check_manifest: ManifestCheck,
) -> list[PromotionReason]:
    """Every check the worker makes itself that fails; empty when all pass."""
    if view is None:
        return [
            _reason(
                PromotionCheck.UNKNOWN_MODEL,
                f"no model {model_id!r} is registered; register it (POST /models/register)",
            )
        ]
    found = [
        _order(view, target),
        _evaluation(view, evaluation),
        _signature(view, target, signature, check_manifest),
    ]
    return [r for r in found if r is not None]


def deprecation_problem(view: ModelView | None, model_id: str) -> str | None:
    """Why a version cannot be deprecated, or None."""
    if view is None:
        return f"no model {model_id!r} is registered"
    if view.status is ModelStatus.DEPRECATED:
        return f"{model_id} is already deprecated"
    return None


def demotion_problem(view: ModelView | None, target: Environment, model_id: str) -> str | None:
    """Why a version cannot be demoted to ``target``, or None."""
    if view is None:
        return f"no model {model_id!r} is registered"
    if view.status is ModelStatus.DEPRECATED:
        return f"{model_id} is deprecated"
    wanted = STATUS_OF[target]
    if _LADDER.index(wanted) >= _LADDER.index(view.status):
        return f"{model_id} is {view.status.value}; {target.value} is not below it"
    return None


def policy_input(
    *,
    promotion_id: str,
    view: ModelView,
    target: Environment,
    region: str | None,
    evaluation: EvaluationView | None,
    signature: ManifestSignature | None,
    datasets: dict[str, dict[str, Any]],
) -> str:
    """The pre-promotion policy's input document, as canonical JSON.

    ``facts.datasets`` has an entry for every dataset in the model's lineage, null
    for one the registry does not know, so a rule can fail closed on it.
    """
    entry = view.entry
    document = {
        "request": {
            "promotion_id": promotion_id,
            "model_id": entry.model_id,
            "target": target.value,
            "region": region,
        },
        "facts": {
            "model": {
                "model_id": entry.model_id,
                "family": entry.family,
                "version": entry.version,
                "status": view.status.value,
                "code_ref": entry.code_ref,
                "artifact_id": entry.artifact_id,
                "dataset_refs": list(entry.lineage.dataset_refs),
                "parent_models": list(entry.lineage.parent_models),
                "provenance": dict(entry.provenance),
            },
            "evaluation": None
            if evaluation is None
            else {
                "eval_id": evaluation.eval_id,
                "passed": evaluation.passed,
                "failed_gates": list(evaluation.failed_gates),
                **evaluation.facts,
            },
            "signature": None
            if signature is None
            else {"signer_id": signature.signer_id, "custody": signature.custody.value},
            "datasets": {d: datasets.get(d) for d in entry.lineage.dataset_refs},
        },
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"))
