"""Policy files: versioned TOML, one stage each, compiled once at load.

The built-in policies ship in this package (``covenant/policy/policies/``); a
deployment points ``load_policies`` at its own folder instead, which then replaces
the built-ins as a whole, so what governs a stage is always exactly one file the
operator can read. The format (see ``policies/pre_train.toml``)::

    version = "2026.12.1"          # required; written into every decision
    stage = "pre_train"            # required: pre_train | pre_promotion | runtime
    default = "allow"              # optional: the answer when no rule matches
    description = "..."            # optional

    [params]                       # optional constants, read as ``params.<name>``
    no_training_licences = ["LicenseRef-no-training"]

    [[rule]]
    id = "dataset-licence-forbids-training"   # unique; [a-z0-9][a-z0-9._-]*
    effect = "deny"                # deny | allow | require_multisig; deny wins
    expr = "request.dataset_refs.filter(d, ...)"  # CEL: a bool, or a list of items
    reason = "dataset {item} ..."  # {item} is the only placeholder
    reason_expr = "'dataset ' + item + ..."   # optional CEL returning the reason
    field = "datasetRefs"          # optional: the request field a refusal names
    description = "..."            # optional

Anything else (an unknown key, a duplicate rule id, an expression that does not
compile) fails the load with ``PolicyFileError`` naming the file, the rule and,
for CEL, the line and column within the expression: a typo in a policy must stop
the platform from starting, never silently drop a rule.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from covenant.events.policy import PolicyStage
from covenant.policy._cel import CompileProblem, compile_expression
from covenant.policy.rules import Effect, Policy, PolicyFileError, Rule, placeholders

_FILE_KEYS = {"version", "stage", "default", "description", "params", "rule"}
_RULE_KEYS = {"id", "effect", "expr", "reason", "reason_expr", "field", "description"}
_RULE_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")
_VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+-]{0,63}")
_FIELD = re.compile(r"[A-Za-z][A-Za-z0-9]*(\.[A-Za-z0-9]+)*")


def built_in_folder() -> Path:
    """Where the policies shipped with Covenant are."""
    return Path(str(resources.files("covenant.policy"))) / "policies"


def _text(table: Mapping[str, Any], key: str, where: str, path: str, rule: str | None) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.strip():
        raise PolicyFileError(f"{where}{key} must be a non-empty string", path=path, rule_id=rule)
    return value


def _optional_text(table: Mapping[str, Any], key: str, path: str, rule: str | None) -> str | None:
    if key not in table:
        return None
    return _text(table, key, "", path, rule)


def _json_like(value: Any) -> bool:
    """Whether ``value`` is made of what JSON (and so CEL) has: TOML dates are not."""
    if isinstance(value, str | bool | int | float):
        return True
    if isinstance(value, list):
        return all(_json_like(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _json_like(v) for k, v in value.items())
    return False


def _compiled(text: str, key: str, path: str, rule: str) -> Any:
    compiled = compile_expression(text)
    if isinstance(compiled, CompileProblem):
        at = (
            f" at line {compiled.line}, column {compiled.column}"
            if compiled.line is not None
            else ""
        )
        raise PolicyFileError(
            f"{key} does not compile{at}: {compiled.detail}",
            path=path,
            rule_id=rule,
            line=compiled.line,
            column=compiled.column,
        )
    return compiled


def _rule(table: Any, index: int, path: str, seen: set[str]) -> Rule:
    if not isinstance(table, dict):
        raise PolicyFileError(f"rule #{index + 1} is not a table ([[rule]])", path=path)
    raw_id = table.get("id")
    if not isinstance(raw_id, str) or _RULE_ID.fullmatch(raw_id) is None:
        raise PolicyFileError(
            f"rule #{index + 1}: id {raw_id!r} must match [a-z0-9][a-z0-9._-]* (1-100)", path=path
        )
    rule_id = raw_id
    if rule_id in seen:
        raise PolicyFileError("the id is used by an earlier rule", path=path, rule_id=rule_id)
    seen.add(rule_id)
    unknown = sorted(set(table) - _RULE_KEYS)
    if unknown:
        raise PolicyFileError(
            f"unknown key(s) {', '.join(unknown)}; a rule has {', '.join(sorted(_RULE_KEYS))}",
            path=path,
            rule_id=rule_id,
        )
    effect = table.get("effect")
    if effect not in tuple(Effect):
        raise PolicyFileError(
            f"effect {effect!r} must be 'deny', 'allow' or 'require_multisig'",
            path=path,
            rule_id=rule_id,
        )
    reason = _text(table, "reason", "", path, rule_id)
    extra = placeholders(reason)
    if extra:
        raise PolicyFileError(
            f"reason names {{{extra[0]}}}; the only placeholder is {{item}} "
            "(use reason_expr for anything else)",
            path=path,
            rule_id=rule_id,
        )
    reason_expr = _optional_text(table, "reason_expr", path, rule_id)
    field = _optional_text(table, "field", path, rule_id)
    if field is not None and _FIELD.fullmatch(field) is None:
        raise PolicyFileError(
            f"field {field!r} must name a request field (camelCase, dotted)",
            path=path,
            rule_id=rule_id,
        )
    expr = _text(table, "expr", "", path, rule_id)
    program = _compiled(expr, "expr", path, rule_id)
    reason_program = reasons_program = None
    if reason_expr is not None:
        reason_program = _compiled(reason_expr, "reason_expr", path, rule_id)
        # Newlines, so a // comment at the end of either cannot swallow a parenthesis.
        combined = f"(\n{expr}\n).map(item, (\n{reason_expr}\n))"
        reasons_program = _compiled(combined, "reason_expr", path, rule_id)
    return Rule(
        id=rule_id,
        effect=Effect(effect),
        expr=expr,
        program=program,
        reason=reason,
        reason_program=reason_program,
        reasons_program=reasons_program,
        field=field,
        description=_optional_text(table, "description", path, rule_id) or "",
    )


def parse_policy(text: str, *, source: str) -> Policy:
    """The policy written in ``text`` (a TOML document), compiled.

    Raises:
        PolicyFileError: the document is not a valid policy; the message names
            ``source``, the rule and, for CEL, the line and column.
    """
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyFileError(f"not valid TOML: {exc}", path=source) from None
    unknown = sorted(set(document) - _FILE_KEYS)
    if unknown:
        raise PolicyFileError(
            f"unknown key(s) {', '.join(unknown)}; a policy has "
            f"{', '.join(sorted(_FILE_KEYS))} (rules are [[rule]] tables)",
            path=source,
        )
    version = _text(document, "version", "", source, None)
    if _VERSION.fullmatch(version) is None:
        raise PolicyFileError(
            f"version {version!r} must be 1-64 letters, digits, '.', '+', '-' (e.g. 2026.12.1)",
            path=source,
        )
    stage = document.get("stage")
    if stage not in tuple(PolicyStage):
        stages = ", ".join(s.value for s in PolicyStage)
        raise PolicyFileError(f"stage {stage!r} is not one of {stages}", path=source)
    default = document.get("default", "allow")
    if default not in (Effect.ALLOW, Effect.DENY):
        raise PolicyFileError(f"default {default!r} must be 'allow' or 'deny'", path=source)
    params = document.get("params", {})
    if not isinstance(params, dict) or not _json_like(params):
        raise PolicyFileError(
            "[params] must be a table of strings, numbers, booleans, lists and tables "
            "(no dates: CEL rules could not compare them)",
            path=source,
        )
    rules = document.get("rule", [])
    if not isinstance(rules, list) or not rules:
        raise PolicyFileError("a policy needs at least one [[rule]]", path=source)
    seen: set[str] = set()
    return Policy(
        stage=PolicyStage(stage),
        version=version,
        rules=tuple(_rule(table, i, source, seen) for i, table in enumerate(rules)),
        params=MappingProxyType(params),
        default=Effect(default),
        source=source,
        description=_optional_text(document, "description", source, None) or "",
    )


def load_policy(path: Path) -> Policy:
    """The policy in the file at ``path``, compiled.

    Raises:
        PolicyFileError: the file cannot be read or is not a valid policy.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyFileError(f"cannot be read: {exc}", path=str(path)) from None
    return parse_policy(text, source=str(path))


def load_policies(folder: Path | None = None) -> Mapping[PolicyStage, Policy]:
    """Every policy in ``folder`` (the built-in ones when None), by stage.

    Each ``*.toml`` file in the folder is one stage's policy; a stage without a
    file has no policy, and every request at that stage is denied (fail closed).

    Raises:
        PolicyFileError: a file is invalid, the folder does not exist or holds no
            policy, or two files claim one stage.
    """
    where = folder if folder is not None else built_in_folder()
    if not where.is_dir():
        raise PolicyFileError("is not a folder of policy files (*.toml)", path=str(where))
    found: dict[PolicyStage, Policy] = {}
    for path in sorted(where.glob("*.toml")):
        policy = load_policy(path)
        earlier = found.get(policy.stage)
        if earlier is not None:
            raise PolicyFileError(
                f"stage {policy.stage.value} is already governed by {earlier.source}; "
                "keep one file per stage",
                path=str(path),
            )
        found[policy.stage] = policy
    if not found:
        raise PolicyFileError("holds no policy file (*.toml)", path=str(where))
    return MappingProxyType(found)
