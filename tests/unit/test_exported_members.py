"""The public API, pinned: each public package exports exactly what is listed here.

Modelled on httpx's ``tests/test_exported_members.py``: a change to what users can
import shows in this file's diff, and a name that leaks into a package's namespace
without being in its ``__all__`` fails the test (helpers live in ``_private``
modules).
"""

from __future__ import annotations

import importlib
import types

import pytest

PUBLIC: dict[str, list[str]] = {
    "covenant": [
        "__version__",
    ],
    "covenant.audit": [
        "AuditError",
        "AuditOptions",
        "AuditTrail",
        "AuditVerifier",
        "Checkpoint",
        "ConsistencyProof",
        "Discrepancy",
        "DiscrepancyError",
        "ExportSummary",
        "InclusionProof",
        "MerkleTree",
        "ProofError",
        "VerifyResult",
        "audit_key_path",
        "audit_signer",
        "export",
        "leaf_hash",
        "load_trail",
        "node_hash",
        "parse_proof",
        "prove_consistency",
        "prove_inclusion",
        "run_audit_worker",
        "verify_consistency_proof",
        "verify_file",
        "verify_inclusion_proof",
        "verify_live",
    ],
    "covenant.blobs": [
        "BlobError",
        "BlobNotFoundError",
        "BlobSource",
        "BlobStorageError",
        "BlobStore",
        "ChecksumMismatchError",
        "FolderBlobStore",
        "InvalidArtifactIdError",
        "StoredBlob",
        "TooLargeError",
        "open_blobs",
        "parse_artifact_id",
    ],
    "covenant.bus": [
        "Bus",
        "GroupConsumer",
        "Outgoing",
        "Position",
        "Record",
        "TableReader",
        "closing",
        "open_bus",
    ],
    "covenant.catalog": [
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
    ],
    "covenant.cli": [
        "app",
        "main",
    ],
    "covenant.events": [
        "MESSAGE_TYPES",
        "ApproveDataset",
        "ArtifactRejected",
        "ArtifactStored",
        "CheckpointSigned",
        "Codec",
        "Command",
        "DatasetCleared",
        "DatasetLineage",
        "DatasetRegistered",
        "DatasetRejected",
        "DeadLettered",
        "Event",
        "LeavesAppended",
        "Message",
        "Metadata",
        "ModelLineage",
        "ModelRegistered",
        "ModelRegistryEntry",
        "ModelRejected",
        "ModelStatus",
        "ProvenanceReview",
        "Record",
        "RecordArtifact",
        "Refusal",
        "RefusalCode",
        "RegisterDataset",
        "RegisterModel",
        "TrainingClearance",
        "Transformation",
        "default_codec",
        "message_type",
        "parse_document",
    ],
    "covenant.gateway": [
        "GatewayConfig",
        "create_app",
        "run_gateway",
        "serve",
    ],
    "covenant.lineage": [
        "make_openlineage_worker",
        "run_event",
    ],
    "covenant.policy": [
        "DECIDED_BY",
        "NO_POLICY",
        "Decision",
        "Effect",
        "Policy",
        "PolicyFileError",
        "Rule",
        "built_in_folder",
        "decide",
        "evaluate",
        "load_policies",
        "load_policy",
        "make_policy_worker",
        "parse_input",
        "parse_policy",
    ],
    "covenant.provenance": [
        "BUNDLE_FORMAT",
        "PAYLOAD_TYPE",
        "PREDICATE_TYPE",
        "STATEMENT_TYPE",
        "BundleEvent",
        "BundleReport",
        "Envelope",
        "EnvelopeSignature",
        "ProvenanceError",
        "Statement",
        "Subject",
        "Watermark",
        "build_bundle",
        "build_predicate",
        "build_statement",
        "canonical_json",
        "check_predicate",
        "check_watermark",
        "embed_watermark",
        "manifest_digest",
        "pae",
        "predicate_schema",
        "read_watermark",
        "sign_envelope",
        "subjects_from_digests",
        "subjects_from_files",
        "subjects_from_folder",
        "verify_bundle",
        "verify_envelope",
        "verify_model_files",
    ],
    "covenant.evaluation": [
        "CallableRunner",
        "EvaluationError",
        "GateBook",
        "ModelRunner",
        "OnnxRunner",
        "Predictions",
        "TestSet",
        "load_gates",
        "make_evaluation_worker",
        "read_test_set",
    ],
    "covenant.training": ["TrainingContext"],
    "covenant.training.executors": [
        "DatasetInput",
        "Executor",
        "RunObservation",
        "RunSpec",
        "RunState",
        "run_id_for",
    ],
    "covenant.runtime": [
        "Context",
        "GlobalTables",
        "Handler",
        "RunnerOptions",
        "Worker",
        "WorkerMetrics",
        "WorkerRunner",
        "WorkerState",
        "install_stop_signals",
        "run_together",
        "run_workers",
        "serve_metrics",
        "wait_until_drained",
    ],
    "covenant.signing": [
        "Algorithm",
        "Custody",
        "LocalKeySigner",
        "SignatureError",
        "Signer",
        "key_id_for",
        "verify_signature",
    ],
    "covenant.testing": [
        "FrozenClock",
        "ManualClock",
        "SequentialIds",
        "builders",
        "collect",
        "drain",
        "embedded_log",
        "publish",
        "running",
        "wait_for",
    ],
    "covenant.store": [
        "ArtifactView",
        "DatasetApproval",
        "DatasetView",
        "Downstream",
        "EdgeKind",
        "LineageEdge",
        "ModelView",
        "ReadStore",
        "StatusChange",
        "StoreError",
        "TransformationView",
        "Upstream",
        "open_store",
    ],
}


@pytest.mark.parametrize("package", sorted(PUBLIC))
def test_exported_members_are_pinned(package: str) -> None:
    assert importlib.import_module(package).__all__ == PUBLIC[package]


@pytest.mark.parametrize("package", sorted(PUBLIC))
def test_nothing_public_is_left_out_of_all(package: str) -> None:
    module = importlib.import_module(package)
    public = {
        name
        for name, value in vars(module).items()
        if (not name.startswith("_") or name == "__version__")
        and name != "annotations"  # from __future__
        and not isinstance(value, types.ModuleType)  # submodules: ports and adapters
    }
    exported_modules = {
        name for name in module.__all__ if isinstance(getattr(module, name), types.ModuleType)
    }
    assert sorted(public | exported_modules) == sorted(module.__all__)


@pytest.mark.parametrize("package", sorted(PUBLIC))
def test_every_exported_member_exists(package: str) -> None:
    module = importlib.import_module(package)
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert missing == []
