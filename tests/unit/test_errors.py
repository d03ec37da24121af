"""One exception root: every error class Covenant defines descends from
``CovenantError``, and the tree in ``covenant.errors`` draws every one of them."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import covenant
from covenant import errors
from covenant.errors import CovenantError


def _error_classes() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for module in pkgutil.walk_packages(covenant.__path__, prefix="covenant."):
        if module.name.endswith("__main__"):
            continue
        loaded = importlib.import_module(module.name)
        for name, obj in vars(loaded).items():
            if (
                inspect.isclass(obj)
                and issubclass(obj, BaseException)
                and obj.__module__.startswith("covenant.")
            ):
                found[name] = obj
    return found


def test_the_walk_finds_the_errors_of_every_capability() -> None:
    found = _error_classes()
    # Defined in errors.py, in blobs/, signing/, audit/, store/, client.py, gateway/:
    for name in ("BusError", "BlobNotFoundError", "SignatureError", "ProofError"):
        assert name in found
    for name in ("AuditError", "StoreError", "GatewayError", "Problem", "WalkError"):
        assert name in found


def test_every_error_descends_from_covenant_error() -> None:
    strays = sorted(n for n, c in _error_classes().items() if not issubclass(c, CovenantError))
    assert strays == []


def test_the_docstring_tree_draws_every_error() -> None:
    tree = errors.__doc__ or ""
    missing = sorted(name for name in _error_classes() if f" {name} " not in tree)
    assert missing == []
