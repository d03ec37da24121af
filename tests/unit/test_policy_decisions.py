"""The decision: deny wins, the default answers when nothing matches, and it fails
closed on everything it cannot be sure of: a rule that crashes or answers in the
wrong shape, input that is not a document, a stage without a policy."""

from __future__ import annotations

import json
from typing import Any

import pytest

import covenant.policy
from covenant.events.policy import MatchedRule, PolicyStage
from covenant.events.refusals import RefusalCode
from covenant.policy import NO_POLICY, Decision, Policy, decide, evaluate, parse_policy

HEADER = 'version = "3"\nstage = "pre_train"\n'


def rule(rule_id: str, expr: str, effect: str = "deny", **extra: str) -> str:
    lines = [
        "[[rule]]",
        f"id = {json.dumps(rule_id)}",
        f"effect = {json.dumps(effect)}",
        f"expr = {json.dumps(expr)}",
        f"reason = {json.dumps(extra.pop('reason', rule_id + ' matched {item}'))}",
    ]
    lines += [f"{key} = {json.dumps(value)}" for key, value in extra.items()]
    return "\n".join(lines) + "\n"


def policy(*rules: str, head: str = HEADER) -> Policy:
    return parse_policy(head + "".join(rules), source="test.toml")


def doc(**request: Any) -> dict[str, Any]:
    return {"request": request, "facts": {}}


def test_nothing_matching_allows_under_a_default_allow_policy() -> None:
    assert evaluate(policy(rule("big", "request.n > 3")), doc(n=1)) == Decision(
        allowed=True, policy_version="3"
    )


def test_a_whole_request_match_has_no_item() -> None:
    decision = evaluate(policy(rule("big", "request.n > 3", reason="n is too big")), doc(n=9))
    assert decision.matched == [MatchedRule(rule_id="big", effect="deny", reason="n is too big")]
    assert decision.refusals[0].message == "n is too big (policy rule big)"
    assert decision.refusals[0].field is None


def test_non_string_items_read_as_json() -> None:
    decision = evaluate(policy(rule("odd", "request.ns.filter(n, n % 2 == 1)")), doc(ns=[1, 2, 3]))
    assert [m.reason for m in decision.matched] == ["odd matched 1", "odd matched 3"]


def test_deny_wins_over_allow() -> None:
    rules = policy(
        rule("ok", "true", "allow", reason="fine"), rule("no", "request.n > 3", reason="no")
    )
    decision = evaluate(rules, doc(n=5))
    assert not decision.allowed
    assert [(m.rule_id, m.effect) for m in decision.matched] == [("ok", "allow"), ("no", "deny")]
    assert [r.message for r in decision.refusals] == ["no (policy rule no)"]


def test_a_default_deny_policy_needs_an_allow_rule() -> None:
    rules = policy(rule("small", "request.n < 3", "allow"), head=HEADER + 'default = "deny"\n')
    assert evaluate(rules, doc(n=1)).allowed
    denied = evaluate(rules, doc(n=5))
    assert not denied.allowed
    assert denied.matched == []
    assert "no rule of the pre_train policy 3 allows this request" in denied.refusals[0].message


def test_params_are_visible_to_rules() -> None:
    head = HEADER + "[params]\nteams = ['risk']\n"
    rules = policy(rule("team", "!(request.team in params.teams)"), head=head)
    assert evaluate(rules, doc(team="risk")).allowed
    assert not evaluate(rules, doc(team="ads")).allowed


def test_reason_expr_sees_the_item_and_falls_back_to_the_template() -> None:
    rules = policy(
        rule("named", "request.xs", reason_expr="'bad ' + item + ' of ' + request.who"),
        rule("broken", "request.xs", reason="broken {item}", reason_expr="item + 1"),
        rule("after", "item == null", reason="item is unbound again"),
    )
    decision = evaluate(rules, doc(xs=["a"], who="bob"))
    named, broken, after = (m.reason for m in decision.matched)
    assert named == "bad a of bob"
    assert broken.startswith("broken a (reason_expr failed: TypeError: ")
    assert after == "item is unbound again"
    assert not decision.allowed


@pytest.mark.parametrize(
    ("expr", "error"),
    [
        ("request.missing > 1", "KeyError: 'missing'"),
        ("request.n + 'x' == 'x'", "TypeError"),
        ("request.n / 0 == 1", "ZeroDivisionError"),
        ("nope > 1", "RuntimeError: Undefined variable or function: 'nope'"),
        ("request.n", "the expression returned int, not a bool or a list"),
    ],
)
def test_a_rule_that_cannot_be_evaluated_fails_closed(expr: str, error: str) -> None:
    rules = policy(rule("ok", "true", "allow"), rule("crashy", expr), rule("fine", "false"))
    decision = evaluate(rules, doc(n=1))
    assert not decision.allowed
    assert [m.rule_id for m in decision.matched] == ["ok"]
    (refusal,) = decision.refusals
    assert refusal.code is RefusalCode.POLICY
    assert refusal.message.startswith(f"policy rule 'crashy' could not be evaluated ({error}")
    assert refusal.message.endswith("the request is refused until the policy or its input is fixed")


def test_an_allow_rule_that_crashes_fails_closed_too() -> None:
    assert not evaluate(policy(rule("ok", "request.missing", "allow")), doc()).allowed


def test_a_document_without_its_parts_fails_closed() -> None:
    assert not evaluate(policy(rule("big", "request.n > 3")), {}).allowed


PRE_TRAIN = {PolicyStage.PRE_TRAIN: policy(rule("big", "request.n > 3"))}


@pytest.mark.parametrize(
    ("input_json", "says"),
    [
        ("", "the policy input is not valid JSON (JSONDecodeError"),
        ("{'request': {}}", "the policy input is not valid JSON"),
        ("\x00\xff garbage", "the policy input is not valid JSON"),
        ("[1, 2]", "the policy input is a JSON list, not an object"),
        ("null", "the policy input is a JSON NoneType, not an object"),
        ('{"request": {}}', "the policy input lacks facts (each a JSON object)"),
        ('{"request": [], "facts": 1}', "lacks request and facts"),
        ('{"request": {"x": ' + "[" * 100 + "]" * 100 + '}, "facts": {}}', "nests deeper"),
        ("[" * 100_000 + "]" * 100_000, "not valid JSON (RecursionError"),
    ],
)
def test_input_that_is_not_a_document_is_denied(input_json: str, says: str) -> None:
    decision = decide(PRE_TRAIN, stage=PolicyStage.PRE_TRAIN, input_json=input_json)
    assert (decision.allowed, decision.matched, decision.policy_version) == (False, [], "3")
    (refusal,) = decision.refusals
    assert says in refusal.message
    assert refusal.message.endswith("; the request is refused")


def test_a_stage_without_a_policy_is_denied() -> None:
    decision = decide(PRE_TRAIN, stage=PolicyStage.RUNTIME, input_json='{"request":{},"facts":{}}')
    assert (decision.allowed, decision.policy_version) == (False, NO_POLICY)
    assert decision.refusals[0].message.startswith("no policy is loaded for stage runtime")


def test_decide_parses_and_evaluates() -> None:
    ok = decide(PRE_TRAIN, stage=PolicyStage.PRE_TRAIN, input_json=json.dumps(doc(n=1)))
    assert ok == Decision(allowed=True, policy_version="3")


def test_the_public_api_is_pinned() -> None:
    assert covenant.policy.__all__ == [
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


def test_reason_expr_of_a_whole_request_match_sees_no_item() -> None:
    rules = policy(
        rule("big", "request.n > 3", reason="too big", reason_expr="'n=' + string(request.n)")
    )
    assert [m.reason for m in evaluate(rules, doc(n=9)).matched] == ["n=9"]


def test_comments_at_the_end_of_expressions_do_not_break_reasons() -> None:
    rules = policy(rule("xs", "request.xs // the offenders", reason_expr="'bad ' + item // named"))
    assert [m.reason for m in evaluate(rules, doc(xs=["a", "b"])).matched] == ["bad a", "bad b"]
