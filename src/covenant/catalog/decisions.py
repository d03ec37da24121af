"""The catalog's rules, as pure functions: what a command leads to, given the state.

No I/O here: the workers (``covenant.catalog.workers``) feed these the command and
the folded ``CatalogState`` and emit what they return. Every refusal names its code
and the field it concerns, and all of them are returned at once, so a caller fixes
a request in one round trip and a client decides from codes, not wording.
"""

from __future__ import annotations

import re
import unicodedata

from covenant.catalog.names import is_family_name
from covenant.catalog.semver import is_semver
from covenant.catalog.state import CatalogState
from covenant.events.datasets import ApproveDataset, ProvenanceReview, RegisterDataset
from covenant.events.datasets import TrainingClearance as Clearance
from covenant.events.refusals import Refusal
from covenant.events.refusals import RefusalCode as Code
from covenant.events.registry import RegisterModel

SHA256_ID = re.compile(r"^sha256:[0-9a-f]{64}$")
MAX_NAME_LENGTH = 1024
_DRIVE = re.compile(r"[A-Za-z]:")


def model_id(family: str, version: str) -> str:
    """The registry id of a version: ``family:version``."""
    return f"{family}:{version}"


def name_problems(name: str) -> list[str]:
    """Why ``name`` cannot name an artifact; empty when it can.

    Names become paths when artifacts are exported or served, so anything that
    could climb out of a folder (``..``), start at a root (``/x``, ``C:\\x``) or
    hide in a terminal (control characters) is refused here, once, for every
    consumer (the gateway checks it before accepting an upload).
    """
    problems = []
    if not name.strip():
        problems.append("name is empty")
    if len(name) > MAX_NAME_LENGTH:
        problems.append(f"name is longer than {MAX_NAME_LENGTH} characters")
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in name):
        problems.append("name contains control or invisible formatting characters")
    absolute = name.startswith(("/", "\\")) or _DRIVE.match(name) is not None
    if absolute:
        problems.append(f"name {name!r} is an absolute path; give a relative name")
    segments = re.split(r"[/\\]", name)
    if ".." in segments:
        problems.append(f"name {name!r} climbs out of its folder with '..'")
    elif not absolute and name.strip() and any(s in ("", ".") for s in segments):
        problems.append(f"name {name!r} has empty or '.' path segments")
    return problems


def block_reasons(command: RegisterDataset) -> list[str]:
    """Why a dataset may not train yet; empty when it may."""
    reasons = []
    if command.pii_flags:
        reasons.append(f"flagged for PII ({', '.join(command.pii_flags)}); needs approval")
    if command.provenance_review is not ProvenanceReview.PASSED:
        reasons.append(f"provenance review is {command.provenance_review.value}, not passed")
    return reasons


class _Refusals(list[Refusal]):
    """A list that reads like the rule it collects: ``out.add(code, field, text)``."""

    def add(self, code: Code, field: str, message: str) -> None:
        self.append(Refusal(code=code, field=field, message=message))


def dataset_refusals(command: RegisterDataset, state: CatalogState) -> list[Refusal]:
    """Why the dataset registration is invalid; empty when it is valid."""
    out = _Refusals()
    if command.dataset_id in state.datasets:
        out.add(
            Code.CONFLICT,
            "datasetId",
            f"dataset {command.dataset_id!r} is already registered and immutable; "
            "register the new data under a new id (e.g. name:v2)",
        )
    if not SHA256_ID.match(command.artifact_id):
        out.add(
            Code.INVALID,
            "artifactId",
            f"artifact id {command.artifact_id!r} is not a sha256:<64 hex> address",
        )
    elif command.artifact_id not in state.artifacts:
        out.add(
            Code.INVALID,
            "artifactId",
            f"artifact {command.artifact_id} is not stored; upload the data first "
            "(covenant artifacts put)",
        )
    if not command.license.strip():
        out.add(
            Code.INVALID,
            "license",
            "license is empty; name the license (e.g. CC-BY-4.0 or proprietary)",
        )
    for i, step in enumerate(command.transformations):
        if not SHA256_ID.match(step.checksum):
            out.add(
                Code.INVALID,
                f"transformations.{i}.checksum",
                f"transformation {step.name!r} checksum {step.checksum!r} is not sha256:<64 hex>",
            )
    return list(out)


def approval_refusals(command: ApproveDataset, state: CatalogState) -> list[Refusal]:
    """Why the dataset cannot be cleared; empty when it can."""
    out = _Refusals()
    known = state.datasets.get(command.dataset_id)
    if known is None:
        out.add(Code.NOT_FOUND, "datasetId", f"dataset {command.dataset_id!r} is not registered")
    elif known.clearance is Clearance.ALLOWED:
        out.add(
            Code.CONFLICT,
            "datasetId",
            f"dataset {command.dataset_id!r} is not blocked; nothing to approve",
        )
    elif not command.reason.strip():
        out.add(Code.INVALID, "reason", "an approval needs a reason; it is kept in the audit trail")
    return list(out)


def model_refusals(command: RegisterModel, state: CatalogState) -> list[Refusal]:
    """Why the model registration is invalid; empty when it is valid."""
    out = _Refusals()
    if not is_family_name(command.family):
        out.add(
            Code.INVALID,
            "family",
            f"family {command.family!r} must be 1-100 of lowercase letters, digits, '.', '_', '-'",
        )
    if not is_semver(command.version):
        out.add(
            Code.INVALID, "version", f"version {command.version!r} is not SemVer 2.0.0 (e.g. 1.0.0)"
        )
    elif model_id(command.family, command.version) in state.models:
        out.add(
            Code.CONFLICT,
            "version",
            f"{model_id(command.family, command.version)} is already registered and "
            "immutable; register a new version",
        )
    if not command.code_ref.strip():
        out.add(
            Code.INVALID, "codeRef", "code_ref is empty; give the git URL and commit (repo#sha)"
        )
    if (command.signer_id is None) != (command.signature is None):
        out.add(Code.INVALID, "signature", "signer_id and signature come together or not at all")
    if command.artifact_id not in state.artifacts:
        out.add(
            Code.INVALID,
            "artifactId",
            f"artifact {command.artifact_id!r} is not stored; upload it first "
            "(covenant artifacts put)",
        )
    for i, ref in enumerate(command.lineage.dataset_refs):
        if ref not in state.datasets:
            out.add(
                Code.INVALID, f"lineage.datasetRefs.{i}", f"lineage names unknown dataset {ref!r}"
            )
    for i, ref in enumerate(command.lineage.parent_models):
        if ref not in state.models:
            out.add(
                Code.INVALID,
                f"lineage.parentModels.{i}",
                f"lineage names unknown parent model {ref!r}",
            )
    return list(out)
