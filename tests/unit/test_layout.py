"""The layout's rules, checked on the source: domain folders stay free of
presentation frameworks, and every module fits in one sitting."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import covenant

SOURCE = Path(covenant.__file__).parent
PRESENTATION = ("typer", "rich", "fastapi", "starlette", "uvicorn")
# The capabilities, present and to come: none of them may draw a screen or serve HTTP.
DOMAIN = (
    "catalog",
    "lineage",
    "audit",
    "events",
    "bus",
    "runtime",
    "store",
    "blobs",
    "signing",
    "training",
    "policy",
    "evaluation",
    "promotion",
    "provenance",
    "serving",
    "drift",
    "dataplane",
)
MAX_LINES = 350


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def _modules(folder: str) -> list[Path]:
    return sorted((SOURCE / folder).rglob("*.py"))


@pytest.mark.parametrize("folder", DOMAIN)
def test_domain_folders_import_no_presentation_framework(folder: str) -> None:
    offenders = {
        str(path.relative_to(SOURCE)): sorted(_imports(path) & set(PRESENTATION))
        for path in _modules(folder)
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_import_check_sees_presentation_imports() -> None:
    # The CLI must use typer, or the check above could be passing vacuously.
    assert "typer" in _imports(SOURCE / "cli" / "_app.py")


def test_every_module_fits_in_one_sitting() -> None:
    long = {
        str(path.relative_to(SOURCE)): n
        for path in SOURCE.rglob("*.py")
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}
