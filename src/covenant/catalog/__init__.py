"""The catalog: datasets, artifacts and the model registry.

``state`` folds the catalog's facts, ``decisions`` holds its rules as pure
functions, ``workers`` adapts the log to them (``datasets``, ``registry``,
``artifacts``); ``semver`` is the version grammar the registry enforces.
"""

from __future__ import annotations

from covenant.catalog.decisions import (
    approval_refusals,
    block_reasons,
    dataset_refusals,
    model_id,
    model_refusals,
    name_problems,
)
from covenant.catalog.semver import is_semver
from covenant.catalog.state import CatalogState, DatasetFacts
from covenant.catalog.workers import (
    check_claim,
    make_artifacts_worker,
    make_datasets_worker,
    make_registry_worker,
)

__all__ = [
    "CatalogState",
    "DatasetFacts",
    "approval_refusals",
    "block_reasons",
    "check_claim",
    "dataset_refusals",
    "is_semver",
    "make_artifacts_worker",
    "make_datasets_worker",
    "make_registry_worker",
    "model_id",
    "model_refusals",
    "name_problems",
]
