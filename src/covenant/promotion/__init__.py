"""Promotion: a model version up the ladder sandbox → staging → prod, safely.

Pure rules in ``decisions`` (ladder, evaluation, signature) and ``approvals``
(multisig), the facts they are decided on in ``state``, the check that a
``manifest.signed`` link is a real signed manifest in ``manifest``, the approvers
file in ``approvers``, and the single-writer ``worker``.
"""

from __future__ import annotations

from covenant.promotion.approvals import (
    APPROVAL_TYPE,
    Approver,
    ApproverGroup,
    approval_message,
    request_digest,
)
from covenant.promotion.approvers import NO_APPROVERS, load_approvers
from covenant.promotion.manifest import manifest_problem
from covenant.promotion.state import EvaluationView, PromotionState
from covenant.promotion.worker import make_promotion_worker

__all__ = [
    "APPROVAL_TYPE",
    "NO_APPROVERS",
    "Approver",
    "ApproverGroup",
    "EvaluationView",
    "PromotionState",
    "approval_message",
    "load_approvers",
    "make_promotion_worker",
    "manifest_problem",
    "request_digest",
]
