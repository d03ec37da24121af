"""Covenant's model-promotion predicate: what was decided about the files a statement names.

Predicate type ``https://covenant.dev/attestation/model-promotion/v1``. The promotion
code gathers the facts (each a plain JSON-able mapping, as the registry, lineage, training
and policy read models already hold them) and passes them to :func:`build_predicate`;
this module only shapes and checks them, so it knows nothing of how they were decided.

Fields (JSON Schema: ``model-promotion-v1.schema.json`` beside this module, loaded by
:func:`predicate_schema`; a new field or meaning is a new ``/v2`` type, never a change
to v1, so ``additionalProperties`` is false)::

    modelId          string, required  "family:version", the registry's model id
    artifactId       string, required  "sha256:<64 hex>", the content address of the
                                       model artifact in the artifact store
    registryEntry    object, required  the ModelRegistryEntry as JSON
    lineage          object, required  datasets, code and parent models it came from
    run              object or null    the training run record (null: not trained here)
    evaluations      array of objects  evaluation results (metrics, gates, verdicts)
    policyDecisions  array of objects  the policy decisions that allowed the promotion
    promotion        object, optional  the promotion itself (stage, approvals, who asked)
    audit            object, optional  {"keyId": "ed25519:<16 hex>"}: the audit trail's
                                       checkpoint key, vouched for by the manifest signer
                                       (how an offline bundle trusts its audit key; see
                                       ``covenant.provenance.bundle``)
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any, Final, cast

from covenant.provenance._errors import ProvenanceError

__all__ = ["PREDICATE_TYPE", "build_predicate", "check_predicate", "predicate_schema"]

PREDICATE_TYPE: Final = "https://covenant.dev/attestation/model-promotion/v1"
SCHEMA_FILE: Final = "model-promotion-v1.schema.json"

_MODEL_ID = re.compile(r"[^:\s]+:[^:\s]+")
_ARTIFACT_ID = re.compile(r"sha256:[0-9a-f]{64}")
_KEY_ID = re.compile(r"[a-z0-9]+:[0-9a-f]{16}")
_REQUIRED = ("modelId", "artifactId", "registryEntry", "lineage", "run")
_OPTIONAL = ("evaluations", "policyDecisions", "promotion", "audit")


def build_predicate(
    *,
    model_id: str,
    artifact_id: str,
    registry_entry: Mapping[str, Any],
    lineage: Mapping[str, Any],
    run: Mapping[str, Any] | None,
    evaluations: Sequence[Mapping[str, Any]] = (),
    policy_decisions: Sequence[Mapping[str, Any]] = (),
    promotion: Mapping[str, Any] | None = None,
    audit_key_id: str | None = None,
) -> dict[str, Any]:
    """The predicate of a model-promotion statement, checked.

    Args:
        model_id: "family:version".
        artifact_id: "sha256:<hex>" of the model artifact.
        registry_entry: the registry entry, e.g. ``entry.model_dump(mode="json")``.
        lineage: the model's lineage as JSON.
        run: the training run record as JSON, or None.
        evaluations: evaluation results as JSON objects.
        policy_decisions: the policy decisions as JSON objects.
        promotion: the promotion request and approvals, if any.
        audit_key_id: the audit checkpoint key id to vouch for (``key_id_for`` of its
            public key), so offline bundles can trust their audit proofs.

    Raises:
        ProvenanceError: a field has the wrong shape.
    """
    predicate: dict[str, Any] = {
        "modelId": model_id,
        "artifactId": artifact_id,
        "registryEntry": dict(registry_entry),
        "lineage": dict(lineage),
        "run": None if run is None else dict(run),
        "evaluations": [dict(e) for e in evaluations],
        "policyDecisions": [dict(d) for d in policy_decisions],
    }
    if promotion is not None:
        predicate["promotion"] = dict(promotion)
    if audit_key_id is not None:
        predicate["audit"] = {"keyId": audit_key_id}
    check_predicate(predicate)
    return predicate


def _fail(message: str) -> ProvenanceError:
    return ProvenanceError(f"model-promotion predicate: {message}")


def check_predicate(predicate: Mapping[str, Any]) -> None:
    """Check the predicate's shape, as the JSON Schema says (no schema library needed).

    Raises:
        ProvenanceError: a required field is missing, a field has the wrong type or
            format, or a field is not one v1 defines.
    """
    missing = [name for name in _REQUIRED if name not in predicate]
    if missing:
        raise _fail(f"missing {', '.join(missing)}")
    unknown = sorted(set(predicate) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise _fail(f"fields not in v1: {', '.join(unknown)}")
    if not isinstance(predicate["modelId"], str) or not _MODEL_ID.fullmatch(predicate["modelId"]):
        raise _fail(f"modelId {predicate['modelId']!r} is not family:version")
    artifact = predicate["artifactId"]
    if not isinstance(artifact, str) or not _ARTIFACT_ID.fullmatch(artifact):
        raise _fail(f"artifactId {artifact!r} is not sha256:<64 hex>")
    for name in ("registryEntry", "lineage"):
        if not isinstance(predicate[name], Mapping):
            raise _fail(f"{name} is not an object")
    if predicate["run"] is not None and not isinstance(predicate["run"], Mapping):
        raise _fail("run is neither an object nor null")
    for name in ("evaluations", "policyDecisions"):
        items = predicate.get(name, [])
        if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
            raise _fail(f"{name} is not an array of objects")
    if "promotion" in predicate and not isinstance(predicate["promotion"], Mapping):
        raise _fail("promotion is not an object")
    if "audit" in predicate:
        audit = predicate["audit"]
        key_id = audit.get("keyId") if isinstance(audit, Mapping) else None
        if not isinstance(audit, Mapping) or set(audit) != {"keyId"}:
            raise _fail('audit must be {"keyId": ...}')
        if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
            raise _fail(f"audit.keyId {key_id!r} is not a Covenant key id")


def predicate_schema() -> dict[str, Any]:
    """The JSON Schema (Draft 2020-12) of the v1 predicate, shipped in the package."""
    text = resources.files(__package__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    return cast(dict[str, Any], json.loads(text))
