"""Policy files: the built-in ones load, a folder of one's own replaces them, and a
bad file fails loading with an error that names the file, the rule and, for CEL,
the line and column."""

from __future__ import annotations

from pathlib import Path

import pytest

from covenant.errors import ConfigError
from covenant.events.policy import PolicyStage
from covenant.policy import (
    Effect,
    PolicyFileError,
    built_in_folder,
    load_policies,
    load_policy,
    parse_policy,
)

HEADER = 'version = "2026.12.1"\nstage = "pre_train"\n'
RULE = """
[[rule]]
id = "too-many-gpus"
effect = "deny"
expr = "request.compute.accelerators > 8"
reason = "at most 8 accelerators"
"""


def bad(text: str) -> PolicyFileError:
    with pytest.raises(PolicyFileError) as caught:
        parse_policy(text, source="team/pre_train.toml")
    assert str(caught.value).startswith("team/pre_train.toml")
    assert caught.value.path == "team/pre_train.toml"
    assert not caught.value.retriable
    return caught.value


def test_the_built_in_policies_load() -> None:
    policies = load_policies()
    assert set(policies) == {PolicyStage.PRE_TRAIN, PolicyStage.PRE_PROMOTION}
    policy = policies[PolicyStage.PRE_TRAIN]
    assert policy.version == "2026.12.1"
    assert policy.default is Effect.ALLOW
    assert [r.id for r in policy.rules] == [
        "dataset-pii-unapproved",
        "dataset-licence-forbids-training",
        "dataset-provenance-unreviewed",
    ]
    assert all(r.effect is Effect.DENY and r.field == "datasetRefs" for r in policy.rules)
    assert policy.source == str(built_in_folder() / "pre_train.toml")


def test_a_minimal_file_parses() -> None:
    policy = parse_policy(HEADER + RULE, source="x.toml")
    (rule,) = policy.rules
    assert (rule.id, rule.effect, rule.field, rule.reason_program) == (
        "too-many-gpus",
        Effect.DENY,
        None,
        None,
    )
    assert rule.program.source == "request.compute.accelerators > 8"


def test_a_folder_of_ones_own_replaces_the_built_ins(tmp_path: Path) -> None:
    (tmp_path / "gpus.toml").write_text(HEADER.replace("2026.12.1", "7") + RULE)
    (tmp_path / "notes.md").write_text("not a policy")
    policies = load_policies(tmp_path)
    assert list(policies) == [PolicyStage.PRE_TRAIN]
    assert policies[PolicyStage.PRE_TRAIN].version == "7"
    assert load_policy(tmp_path / "gpus.toml").rules[0].id == "too-many-gpus"


def test_a_policy_file_error_is_a_config_error() -> None:
    assert issubclass(PolicyFileError, ConfigError)


def test_a_cel_syntax_error_names_the_rule_line_and_column() -> None:
    text = HEADER + RULE.replace(
        'expr = "request.compute.accelerators > 8"',
        'expr = """\nrequest.compute.accelerators > 8 &&\n  (request.team == """',
    )
    error = bad(text)
    assert error.rule_id == "too-many-gpus"
    assert (error.line, error.column) == (2, 20)
    assert "rule 'too-many-gpus': expr does not compile at line 2, column 20" in str(error)
    assert "Syntax error" in str(error)


def test_a_bad_reason_expr_is_named_too() -> None:
    error = bad(HEADER + RULE + "reason_expr = \"'x' +\"\n")
    assert error.rule_id == "too-many-gpus"
    assert "reason_expr does not compile at line 1" in str(error)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("version = \n", "not valid TOML"),
        ('version = "1"\nstage = "pre_deploy"\n' + RULE, "stage 'pre_deploy' is not one of"),
        ('stage = "pre_train"\n' + RULE, "version must be a non-empty string"),
        ('version = "one two"\nstage = "pre_train"\n' + RULE, "version 'one two' must be"),
        (HEADER + 'default = "maybe"\n' + RULE, "default 'maybe' must be 'allow' or 'deny'"),
        (HEADER, "a policy needs at least one [[rule]]"),
        (HEADER + "[[rules]]\nid = 'x'\n", "unknown key(s) rules"),
        (HEADER + "[params]\nsince = 2026-01-01\n" + RULE, "[params] must be a table"),
    ],
)
def test_a_bad_file_says_what_is_wrong(text: str, says: str) -> None:
    error = bad(text)
    assert error.rule_id is None
    assert says in str(error)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (
            ('effect = "deny"', 'effect = "block"'),
            "effect 'block' must be 'deny', 'allow' or 'require_multisig'",
        ),
        (("reason = ", "why = "), "unknown key(s) why"),
        (('reason = "at most 8 accelerators"', 'reason = ""'), "reason must be a non-empty"),
        (('reason = "at most', 'reason = "{dataset}: at most'), "reason names {dataset}"),
        (('expr = "request.compute.accelerators > 8"', ""), "expr must be a non-empty string"),
        (("[[rule]]", '[[rule]]\nfield = "not a field"'), "field 'not a field' must name"),
    ],
)
def test_a_bad_rule_is_named(change: tuple[str, str], says: str) -> None:
    error = bad(HEADER + RULE.replace(*change))
    assert error.rule_id == "too-many-gpus"
    assert says in str(error)


@pytest.mark.parametrize("rule_id", ["", "Upper", "has space", "-leading", "x" * 101])
def test_a_rule_id_must_be_a_plain_name(rule_id: str) -> None:
    assert "must match [a-z0-9][a-z0-9._-]*" in str(
        bad(HEADER + RULE.replace('"too-many-gpus"', repr(rule_id)))
    )


def test_rule_ids_are_unique() -> None:
    error = bad(HEADER + RULE + RULE)
    assert (error.rule_id, "the id is used by an earlier rule" in str(error)) == (
        "too-many-gpus",
        True,
    )


def test_one_file_per_stage(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text(HEADER + RULE)
    (tmp_path / "b.toml").write_text(HEADER + RULE)
    with pytest.raises(PolicyFileError, match=r"b\.toml: stage pre_train is already governed"):
        load_policies(tmp_path)


def test_a_folder_must_hold_policies(tmp_path: Path) -> None:
    with pytest.raises(PolicyFileError, match="holds no policy file"):
        load_policies(tmp_path)
    with pytest.raises(PolicyFileError, match="is not a folder of policy files"):
        load_policies(tmp_path / "missing")


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "pre_train.toml").write_bytes(b"\xff\xfe not utf-8")
    with pytest.raises(PolicyFileError, match=r"pre_train\.toml: cannot be read"):
        load_policies(tmp_path)


def test_a_bad_file_in_a_folder_fails_the_whole_load(tmp_path: Path) -> None:
    (tmp_path / "pre_train.toml").write_text(HEADER + RULE.replace("> 8", "> > 8"))
    with pytest.raises(PolicyFileError) as caught:
        load_policies(tmp_path)
    assert caught.value.path == str(tmp_path / "pre_train.toml")
    assert caught.value.rule_id == "too-many-gpus"
    assert caught.value.line == 1
