"""The one exception root of Covenant.

Library errors (aiokafka, sqlite3, fastavro, pydantic, asyncpg, botocore, httpx)
are translated at the adapter boundary into these, so callers handle one tree and
the worker runtime can decide from ``retriable`` alone whether to try again or
dead-letter. Every error Covenant raises on purpose is in this tree (a test walks
the package to hold it so); the ones defined beside the port they belong to are
re-exported there::

    CovenantError                      retriable: bool
    ├── ConfigError                    a setting or URL names something that cannot work
    │   └── PolicyFileError            covenant.policy: a policy file that cannot load
    │                                  (path, rule_id, line, column)
    ├── ContractError                  bytes or documents that break the event contract
    │   ├── DecodeError                not single-object Avro, truncated, or wrong body
    │   ├── UnknownSchemaError         fingerprint not in the schema registry (fingerprint)
    │   └── ValidationError            a document fails its schema (field)
    ├── BusError                       the log failed (retriable unless noted)
    │   └── FencedError                another instance owns this consumer group now
    ├── StoreError                     the read store failed (retriable)
    ├── BlobError                      covenant.blobs: the artifact store refused or failed
    │   ├── InvalidArtifactIdError     not sha256:<64 hex> (value)
    │   ├── BlobNotFoundError          nothing stored at the id (artifact_id)
    │   ├── ChecksumMismatchError      the bytes hash to something else (expected, actual, size)
    │   ├── TooLargeError              over the upload limit (limit, received)
    │   └── BlobStorageError           the storage backend failed (operation, code)
    ├── SignatureError                 covenant.signing: a bad signature or key (key_id)
    ├── AuditError                     the audit trail is inconsistent (covenant.audit)
    │   ├── DiscrepancyError           the first discrepancy found (discrepancy)
    │   ├── ProofError                 a Merkle proof does not hold (also a ValueError)
    │   └── WalkError                  bytes the fast export scanner will not vouch for (internal)
    ├── ProvenanceError                covenant.provenance: a manifest, envelope, watermark
    │                                  or bundle that is not what was signed (name)
    ├── EvaluationError                covenant.evaluation: a model, test set or figure that
    │                                  cannot be evaluated (code, field)
    ├── DriftError                     covenant.drift: not retriable
    │   ├── ProfileError               a reference profile that cannot be built, read or merged
    │   ├── SampleError                a serving sample that cannot be scored (reason)
    │   └── UnknownDeploymentError     a sample for a deployment never recorded: dead-lettered
    ├── BundleUnavailableError         covenant.promotion.bundles: no signed manifest, or no
    │                                  audit checkpoint covers the events yet
    ├── GatewayError                   covenant.client: the gateway refused or is unreachable
    │                                  (status, problem, refusals)
    ├── StopRequestedError             a stop arrived while waiting out a store error (internal)
    ├── DemoError                      covenant demo: a step could not run or did not happen
    │                                  (covenant.cli._demo_example; the message says what to do)
    ├── ServiceStartError              covenant.testing: a local test service did not start
    │                                  (log_file; also a RuntimeError)
    ├── ModelRefusedError              covenant.dataplane.server: a model server will not load a
    │                                  model (code: digest_mismatch, unsigned, ... ; reason)
    ├── BadRequestError                covenant.dataplane.server: a malformed inference request
    │                                  (also a ValueError; answered 400)
    ├── UpstreamFailedError            covenant.dataplane.router: every replica tried failed
    │                                  (internal; answered 502)
    ├── ClusterError                   covenant.serving.runtimes.kubernetes: the API server
    │                                  refused or failed a call (retriable for 409/429/5xx)
    ├── SoftHsmMissingError            covenant.testing.softhsm: SoftHSM2 is not installed or
    │                                  made no token (also a RuntimeError)
    └── Problem                        covenant.gateway: an HTTP problem answer (status, kind)
"""

from __future__ import annotations


class CovenantError(Exception):
    """Root of every error Covenant raises on purpose.

    Attributes:
        retriable: True when the same operation may succeed if tried again later
            (a broker hiccup), False when retrying can only repeat the failure
            (garbage bytes). The worker runtime reads only this flag.
    """

    retriable: bool = False

    def __init__(self, message: str, *, retriable: bool | None = None) -> None:
        super().__init__(message)
        if retriable is not None:
            self.retriable = retriable


class ConfigError(CovenantError):
    """A setting cannot work as given; the message says which and what to do."""


class ContractError(CovenantError):
    """Input that breaks the event contract; never retriable."""


class DecodeError(ContractError):
    """Bytes that are not a decodable single-object Avro record."""


class UnknownSchemaError(ContractError):
    """A fingerprint that no known schema has."""

    def __init__(self, fingerprint: bytes) -> None:
        super().__init__(f"unknown schema fingerprint {fingerprint.hex()}")
        self.fingerprint = fingerprint


class ValidationError(ContractError):
    """A document that does not match its schema.

    Attributes:
        field: dotted path of the first offending field ("" when the whole document).
    """

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class BusError(CovenantError):
    """The log could not do what was asked; usually transient."""

    retriable = True


class FencedError(BusError):
    """Another instance took over this group; this one must stop, not retry."""

    retriable = False


class StoreError(CovenantError):
    """The read store could not do what was asked; usually transient."""

    retriable = True


class AuditError(CovenantError):
    """The audit trail is inconsistent, or an audit operation cannot be done.

    Never retriable: retrying cannot make a tampered or incomplete trail whole.
    """
