"""Covenant's audit trail: an RFC 9162 transparency log of every recorded event.

The audit worker (``worker``) folds every record into a Merkle tree (``merkle``,
``state``) and signs checkpoints; ``verify`` and ``scan`` check a live log or an
exported file (``export``) against them; ``trail`` and ``proofs`` give and check
inclusion and consistency proofs. The command line is ``covenant audit``.
"""

from __future__ import annotations

from covenant.audit.export import ExportSummary, export, verify_file
from covenant.audit.merkle import MerkleTree, ProofError, leaf_hash, node_hash
from covenant.audit.proofs import (
    ConsistencyProof,
    InclusionProof,
    parse_proof,
    verify_consistency_proof,
    verify_inclusion_proof,
)
from covenant.audit.records import AuditError, Checkpoint
from covenant.audit.results import Discrepancy, DiscrepancyError, VerifyResult
from covenant.audit.trail import AuditTrail, load_trail, prove_consistency, prove_inclusion
from covenant.audit.verify import AuditVerifier, verify_live
from covenant.audit.worker import AuditOptions, audit_key_path, audit_signer, run_audit_worker

__all__ = [
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
]
