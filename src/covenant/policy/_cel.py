"""The one door to the CEL engine, opened on first use.

``import cel`` costs over half a second (its package also loads its own REPL:
typer, rich and prompt_toolkit), so nothing imports it until a policy is loaded:
the CLI's other commands, and processes that never judge a request, never pay.
Only CEL's native standard library is used, no Python callbacks, so every rule
runs in the Rust core and means the same on every machine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cel import Context, Program

# "ERROR: <input>:2:14: Syntax error: ..." in a compile error's text.
_POSITION = re.compile(r"<input>:(\d+):(\d+):\s*")


@dataclass(frozen=True)
class CompileProblem:
    """Why an expression does not compile, and where (1-based, within the
    expression) when CEL says."""

    detail: str
    line: int | None
    column: int | None


def compile_expression(text: str) -> Program | CompileProblem:
    """The compiled program for ``text``, or why it is not one."""
    import cel  # deferred: see the module docstring

    try:
        return cel.compile(text)
    except Exception as exc:  # the binding raises ValueError; any failure is a bad rule
        message = str(exc)
        found = _POSITION.search(message)
        if found is None:
            return CompileProblem(message, None, None)
        detail = message[found.end() :].strip()
        return CompileProblem(detail, int(found.group(1)), int(found.group(2)))


def context(variables: dict[str, Any]) -> Context:
    """A CEL context holding ``variables``, converted once for every rule of a
    decision (the conversion costs more than most rules)."""
    import cel

    return cel.Context(variables=variables)
