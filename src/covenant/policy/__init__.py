"""Policy gates: SentinelNet's built-in engine, CEL rules in versioned files.

A request to decide (``policy.requested``) carries its whole input as canonical
JSON, ``{"request": ..., "facts": ...}``; the stage's policy answers with every
rule that matched and why (``policy.decided``). An external SentinelNet can take
over by answering on the same topics.

* ``files``: the TOML policy format, loading and compiling (``load_policies``);
  the built-in policies live in ``policies/`` (``pre_train.toml`` so far).
* ``rules``: what a loaded ``Policy`` and its ``Rule`` are.
* ``decisions``: ``evaluate`` and ``decide``, pure and fail-closed.
* ``workers``: ``make_policy_worker``, the thin adapter from the log.
"""

from __future__ import annotations

from covenant.policy.decisions import NO_POLICY, Decision, decide, evaluate, parse_input
from covenant.policy.files import built_in_folder, load_policies, load_policy, parse_policy
from covenant.policy.rules import Effect, Policy, PolicyFileError, Rule
from covenant.policy.workers import DECIDED_BY, make_policy_worker

__all__ = [
    "DECIDED_BY",
    "NO_POLICY",
    "Decision",
    "Effect",
    "Policy",
    "PolicyFileError",
    "Rule",
    "built_in_folder",
    "decide",
    "evaluate",
    "load_policies",
    "load_policy",
    "make_policy_worker",
    "parse_input",
    "parse_policy",
]
