"""The policy decision, pure: a policy and an input document in, a decision out.

Every rule is evaluated, and every match reported, so a refused request learns
all its problems at once. The decision fails closed wherever it cannot be sure:
a rule that raises (a missing key, a type mismatch) or answers in a shape that is
neither a bool nor a list denies the request with a refusal naming the rule and
the error; so do input that is not a JSON object with ``request`` and ``facts``,
and a stage that has no policy. A crashed rule can never be read as "nothing
matched".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from covenant.events.policy import MatchedRule, PolicyStage
from covenant.events.refusals import Refusal, RefusalCode
from covenant.policy import _cel
from covenant.policy.rules import Effect, Policy, Rule

if TYPE_CHECKING:
    from cel import Context

NO_POLICY = "none"  # the policy_version of a decision made without a policy
_MAX_DEPTH = 64  # JSON nesting an input may have; far beyond any real request


@dataclass(frozen=True)
class Decision:
    """What a policy says about one request.

    Attributes:
        allowed: True only when no deny rule matched, nothing failed and, under a
            default-deny policy, an allow rule matched.
        matched: every rule that held, in rule order, one entry per offending item.
        refusals: why it is denied (code ``policy``); empty when allowed.
        policy_version: the version of the policy decided under, ``none`` if none.
    """

    allowed: bool
    matched: list[MatchedRule] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    policy_version: str = NO_POLICY


def _denied(version: str, message: str, field: str | None = None) -> Decision:
    refusal = Refusal(code=RefusalCode.POLICY, message=message, field=field)
    return Decision(allowed=False, refusals=[refusal], policy_version=version)


def _is_engine_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is the engine failing on this rule (to deny for) rather than
    the process being told to stop (to let through). A Rust panic surfaces as
    ``pyo3_runtime.PanicException``, which derives from ``BaseException``."""
    return isinstance(exc, Exception) or type(exc).__name__ == "PanicException"


def _error_text(exc: BaseException) -> str:
    detail = str(exc) or "no detail"
    return f"{type(exc).__name__}: {detail}"


def _items(rule: Rule, context: Context) -> list[Any] | str:
    """The offending items (``[None]`` for a whole-request match, ``[]`` for no
    match), or the error text when the rule cannot be evaluated."""
    try:
        answer = rule.program.execute(context)
    except BaseException as exc:
        if not _is_engine_failure(exc):
            raise
        return _error_text(exc)
    if isinstance(answer, bool):
        return [None] if answer else []
    if isinstance(answer, list):
        return answer
    return f"the expression returned {type(answer).__name__}, not a bool or a list"


def _reasons(rule: Rule, items: list[Any], context: Context) -> list[str]:
    """The reason of each item, from ``reason_expr`` where the rule has one; the
    template (with the error) where it fails or answers in the wrong shape."""
    if rule.reason_program is None or rule.reasons_program is None:
        return [rule.render(item) for item in items]
    program = rule.reason_program if items == [None] else rule.reasons_program
    try:
        answer = program.execute(context)
    except BaseException as exc:
        if not _is_engine_failure(exc):
            raise
        failed = f"reason_expr failed: {_error_text(exc)}"
        return [f"{rule.render(item)} ({failed})" for item in items]
    texts = [answer] if items == [None] else answer
    if not isinstance(texts, list) or len(texts) != len(items):
        return [rule.render(item) for item in items]
    return [t if isinstance(t, str) else rule.render(i) for t, i in zip(texts, items, strict=True)]


def evaluate(policy: Policy, document: Mapping[str, Any]) -> Decision:
    """The decision of ``policy`` on ``document`` (``{"request": ..., "facts": ...}``).

    Rules see ``request``, ``facts`` and the policy's ``params``; deny wins over
    allow, and without a match the policy's default answers. Repeated identical
    matches (a dataset named twice) are reported once.
    """
    context = _cel.context(
        {
            "request": document.get("request"),
            "facts": document.get("facts"),
            "params": dict(policy.params),
            "item": None,
        }
    )
    matched: list[MatchedRule] = []
    refusals: list[Refusal] = []
    allowed_by_rule = False
    seen: set[tuple[str, str]] = set()
    for rule in policy.rules:
        items = _items(rule, context)
        if isinstance(items, str):
            refusals.append(
                Refusal(
                    code=RefusalCode.POLICY,
                    message=f"policy rule {rule.id!r} could not be evaluated ({items}); "
                    "the request is refused until the policy or its input is fixed",
                )
            )
            continue
        for reason in _reasons(rule, items, context):
            if (rule.id, reason) in seen:
                continue
            seen.add((rule.id, reason))
            match = MatchedRule(rule_id=rule.id, effect=rule.effect.value, reason=reason)
            matched.append(match)
            if rule.effect is Effect.DENY:
                refusals.append(
                    Refusal(
                        code=RefusalCode.POLICY,
                        message=f"{match.reason} (policy rule {rule.id})",
                        field=rule.field,
                    )
                )
            elif rule.effect is Effect.ALLOW:
                allowed_by_rule = True
    if not refusals and policy.default is Effect.DENY and not allowed_by_rule:
        refusals.append(
            Refusal(
                code=RefusalCode.POLICY,
                message=f"no rule of the {policy.stage.value} policy {policy.version} "
                "allows this request, and the policy denies by default",
            )
        )
    return Decision(
        allowed=not refusals,
        matched=matched,
        refusals=refusals,
        policy_version=policy.version,
    )


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests more than ``limit`` levels, walked level by level
    over containers only (scalars are most of a document and cannot nest)."""
    level: list[Any] = [value]
    for _ in range(limit):
        below: list[Any] = []
        for node in level:
            children = node.values() if isinstance(node, dict) else node
            below.extend(c for c in children if isinstance(c, dict | list))
        if not below:
            return False
        level = below
    return True


def parse_input(input_json: str) -> dict[str, Any] | str:
    """The input document of ``input_json``, or why it cannot be one."""
    try:
        document = json.loads(input_json)
    except (ValueError, RecursionError) as exc:
        return f"the policy input is not valid JSON ({_error_text(exc)})"
    if not isinstance(document, dict):
        return f"the policy input is a JSON {type(document).__name__}, not an object"
    missing = [key for key in ("request", "facts") if not isinstance(document.get(key), dict)]
    if missing:
        return f"the policy input lacks {' and '.join(missing)} (each a JSON object)"
    if _deeper_than(document, _MAX_DEPTH):
        return f"the policy input nests deeper than {_MAX_DEPTH} levels"
    return document


def decide(
    policies: Mapping[PolicyStage, Policy], *, stage: PolicyStage, input_json: str
) -> Decision:
    """The decision on one request as it arrives on the log: the stage's policy on
    the parsed input. Denies (with the reason) when the stage has no policy or the
    input is not a valid document; never raises for bad input."""
    policy = policies.get(stage)
    if policy is None:
        return _denied(
            NO_POLICY,
            f"no policy is loaded for stage {stage.value}; requests at this stage are "
            "refused until one is (fail closed)",
        )
    document = parse_input(input_json)
    if isinstance(document, str):
        return _denied(policy.version, f"{document}; the request is refused")
    return evaluate(policy, document)
