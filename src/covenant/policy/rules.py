"""What a loaded policy is: a versioned set of compiled rules for one stage.

A rule's ``expr`` is compiled once, when its file loads, and evaluated many times;
nothing here reads files (``covenant.policy.files`` does) or judges a request
(``covenant.policy.decisions`` does).

An expression answers in one of two shapes, so a reason can name what broke it:

* a bool: the whole request matches (``request.compute.accelerators > 8``);
* a list: each element is an offending item, one match each
  (``request.dataset_refs.filter(d, ...)`` lists the datasets at fault).

The reason is a template in which ``{item}`` stands for the offending item. It is
the only placeholder, substituted as plain text (never ``str.format``, which could
reach attributes), so a reason cannot run anything; a reason that needs facts
(the dataset's licence, say) is a CEL expression, ``reason_expr``, evaluated with
``item`` bound.

For a list, ``reason_expr`` is compiled a second time as
``(expr).map(item, reason_expr)``: one evaluation renders every item's reason on
the context already converted, where binding ``item`` with ``add_variable``
would make the engine convert the whole input again for each item (measured:
four times the cost of the rule itself).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from covenant.errors import ConfigError
from covenant.events.policy import PolicyStage

if TYPE_CHECKING:
    from cel import Program

ITEM = "{item}"
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.]*)\}")


class Effect(StrEnum):
    """What a matching rule does. Deny wins over allow.

    ``require_multisig`` neither allows nor denies: it classifies the request as
    high-risk, and the caller (the promotion worker) then demands k-of-n approvals.
    """

    ALLOW = "allow"
    DENY = "deny"
    REQUIRE_MULTISIG = "require_multisig"


class PolicyFileError(ConfigError):
    """A policy file that cannot load: bad TOML, an unknown stage or key, a CEL
    expression that does not compile. Never retriable: the file must change.

    Attributes:
        path: the file.
        rule_id: the rule at fault, None when the file as a whole is.
        line: the line within the rule's expression where CEL found the error.
        column: the column there.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str,
        rule_id: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        where = f"{path}: rule {rule_id!r}" if rule_id is not None else path
        super().__init__(f"{where}: {message}")
        self.path = path
        self.rule_id = rule_id
        self.line = line
        self.column = column


def placeholders(template: str) -> list[str]:
    """The ``{name}`` placeholders in ``template`` other than ``{item}``: mistakes
    to report when the file loads, not text to show a user later."""
    return [name for name in _PLACEHOLDER.findall(template) if name != "item"]


def item_text(item: Any) -> str:
    """How an offending item reads in a reason: strings as they are, anything else
    as JSON, so the text is the same on every run."""
    if item is None:
        return ""
    if isinstance(item, str):
        return item
    return json.dumps(item, sort_keys=True, separators=(",", ":"), default=str)


@dataclass(frozen=True)
class Rule:
    """One compiled rule.

    Attributes:
        id: unique within its policy; named in every match and refusal.
        effect: deny, allow, or require_multisig (a classification, not a verdict).
        expr: the CEL source, kept for error messages and ``covenant`` tooling.
        program: ``expr`` compiled.
        reason: the template shown for each match.
        reason_program: a compiled ``reason_expr``, when the file gives one, for a
            whole-request match (``item`` is null); it overrides the template,
            which stays the fallback if it fails.
        reasons_program: ``(expr).map(item, reason_expr)`` compiled, for list
            answers: every item's reason in one evaluation.
        field: the request field a refusal concerns (camelCase, dotted).
        description: why the rule exists, for readers of the file.
    """

    id: str
    effect: Effect
    expr: str
    program: Program
    reason: str
    reason_program: Program | None = None
    reasons_program: Program | None = None
    field: str | None = None
    description: str = ""

    def render(self, item: Any) -> str:
        """The template's text for ``item``."""
        return self.reason.replace(ITEM, item_text(item))


@dataclass(frozen=True)
class Policy:
    """One stage's rules at one version, as loaded from one file.

    Attributes:
        stage: where in the flow it is checked.
        version: the file's version (CalVer, e.g. ``2026.12.1``), written into every
            decision so the log says which rules a decision was made under.
        rules: in file order; matches are reported in this order.
        params: constants the rules read as ``params`` (lists of licences, limits),
            so a policy is tuned without editing expressions.
        default: the answer when no rule matches: ``allow`` (deny rules carve out
            what is refused) or ``deny`` (allow rules say what is permitted).
        source: where it came from, for messages.
        description: what the policy is for.
    """

    stage: PolicyStage
    version: str
    rules: tuple[Rule, ...]
    params: Mapping[str, Any] = field(default_factory=dict)
    default: Effect = Effect.ALLOW
    source: str = ""
    description: str = ""
