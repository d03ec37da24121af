"""Builders for policy requests and decisions (``covenant.events.policy``).

Both have the ``subject_id`` (the job, model or deployment decided on) as their
subject, so a decision reaches the writer of what it is about.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final, Unpack

from covenant.events import policy as pol
from covenant.events.refusals import Refusal, RefusalCode
from covenant.testing._builders._meta import Meta, build
from covenant.testing._builders.runs import JOB_ID

POLICY_VERSION: Final = "2026.12.1"
"""The policy version of the builders' decisions."""

DECIDED_BY: Final = "covenant-policy"
"""The built-in policy engine's name, ``decided_by`` of its decisions."""

_ASKERS: Final = {
    pol.PolicyStage.PRE_TRAIN: "training",
    pol.PolicyStage.PRE_PROMOTION: "promotion",
    pol.PolicyStage.RUNTIME: "serving",
}


def canonical_json(document: Mapping[str, Any]) -> str:
    """``document`` as canonical JSON: sorted keys, no spaces."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def matched_rule(
    rule_id: str = "no-unreviewed-pii",
    *,
    effect: str = "deny",
    reason: str = "a dataset is flagged for PII and not approved",
) -> pol.MatchedRule:
    """One rule of a decision whose expression held: a deny rule unless told."""
    return pol.MatchedRule(rule_id=rule_id, effect=effect, reason=reason)


def request_policy(
    subject_id: str = JOB_ID,
    *,
    stage: pol.PolicyStage = pol.PolicyStage.PRE_TRAIN,
    input_doc: Mapping[str, Any] | None = None,
    **meta: Unpack[Meta],
) -> pol.RequestPolicy:
    """A ``policy.requested`` command, as the stage's worker writes it (``training``
    before training, ``promotion`` before promotion, ``serving`` at run time).

    ``input_doc`` is what the rules read, ``{"request": ..., "facts": ...}`` with
    empty parts by default; it is sent as canonical JSON (``canonical_json``).
    """
    document = input_doc if input_doc is not None else {"request": {}, "facts": {}}
    return build(
        pol.RequestPolicy,
        meta,
        subject=subject_id,
        producer=_ASKERS[stage],
        stage=stage,
        subject_id=subject_id,
        input_json=canonical_json(document),
    )


def policy_decided(
    subject_id: str = JOB_ID,
    *,
    stage: pol.PolicyStage = pol.PolicyStage.PRE_TRAIN,
    allowed: bool = True,
    policy_version: str = POLICY_VERSION,
    matched: Sequence[pol.MatchedRule] | None = None,
    refusals: Sequence[Refusal] | None = None,
    decided_by: str = DECIDED_BY,
    **meta: Unpack[Meta],
) -> pol.PolicyDecided:
    """A ``policy.decided`` event, as the policy worker writes it.

    An allowing decision matches no rule by default; a denying one
    (``allowed=False``) matches ``matched_rule()``. ``refusals`` default to one
    ``policy`` refusal per matched deny rule, its reason the message.
    """
    rules = list(matched) if matched is not None else ([] if allowed else [matched_rule()])
    if refusals is None:
        refusals = [
            Refusal(code=RefusalCode.POLICY, message=rule.reason)
            for rule in rules
            if rule.effect == "deny"
        ]
    return build(
        pol.PolicyDecided,
        meta,
        subject=subject_id,
        producer="policy",
        stage=stage,
        subject_id=subject_id,
        allowed=allowed,
        policy_version=policy_version,
        matched=rules,
        refusals=list(refusals),
        decided_by=decided_by,
    )
