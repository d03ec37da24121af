"""The signed model manifest: which files a model is, what was decided about it, who signed.

A promoted model gets an in-toto Statement v1 (``statement``) whose subjects are its
files and whose predicate (``predicate``) holds the registry entry, lineage, run record,
evaluations and policy decisions; the statement is signed into a DSSE envelope
(``envelope``) through the ``covenant.signing.Signer`` port. ``files`` checks a model
folder is exactly what was signed, ``watermark`` marks an ONNX model with its manifest
and checks it on load, and ``bundle`` packs envelope, promotion events, audit proofs and
checkpoints into one file that verifies offline (``covenant verify bundle``).

Everything here is pure but for reading the files it is asked to hash; no part needs
the log, the store or the network.
"""

from __future__ import annotations

from covenant.provenance._errors import ProvenanceError
from covenant.provenance.bundle import (
    BUNDLE_FORMAT,
    BundleEvent,
    BundleReport,
    build_bundle,
    verify_bundle,
)
from covenant.provenance.envelope import (
    PAYLOAD_TYPE,
    Envelope,
    EnvelopeSignature,
    manifest_digest,
    pae,
    sign_envelope,
    verify_envelope,
)
from covenant.provenance.files import verify_model_files
from covenant.provenance.predicate import (
    PREDICATE_TYPE,
    build_predicate,
    check_predicate,
    predicate_schema,
)
from covenant.provenance.statement import (
    STATEMENT_TYPE,
    Statement,
    Subject,
    build_statement,
    canonical_json,
    subjects_from_digests,
    subjects_from_files,
    subjects_from_folder,
)
from covenant.provenance.watermark import (
    Watermark,
    check_watermark,
    embed_watermark,
    read_watermark,
)

__all__ = [
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
]
