"""The public surfaces of the packages split out of big modules stay what they were.

``covenant.events.compat`` and ``covenant.audit.merkle`` were single modules; callers
import from the package, and the implementation lives in private modules that must stay
short enough to read in one sitting.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest

SURFACES = {
    "covenant.events.compat": ["Incompatibility", "check_compatibility", "reader_can_read"],
    "covenant.audit.merkle": [
        "EMPTY_ROOT",
        "HASH_SIZE",
        "MerkleTree",
        "ProofError",
        "leaf_hash",
        "node_hash",
        "verify_consistency",
        "verify_inclusion",
    ],
}
MAX_LINES = 300


@pytest.mark.parametrize("package", sorted(SURFACES))
def test_exported_members(package: str) -> None:
    module = importlib.import_module(package)
    assert module.__all__ == SURFACES[package]
    for name in module.__all__:
        value = getattr(module, name)
        origin = getattr(value, "__module__", package)
        if isinstance(origin, str) and origin.startswith("covenant."):
            assert origin == package or origin.startswith(f"{package}._"), (name, origin)


@pytest.mark.parametrize("package", sorted(SURFACES))
def test_modules_are_private_and_short(package: str) -> None:
    module = importlib.import_module(package)
    paths = module.__path__
    names = [info.name for info in pkgutil.iter_modules(paths)]
    assert names, f"{package} has no modules"
    assert all(name.startswith("_") for name in names), names
    for folder in paths:
        for path in Path(folder).glob("*.py"):
            lines = len(path.read_text(encoding="utf-8").splitlines())
            assert lines <= MAX_LINES, f"{path.name} has {lines} lines"
