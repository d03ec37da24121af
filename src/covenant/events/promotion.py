"""Promotion commands and events: a model version moving sandbox → staging → prod.

Everything about one model is keyed by its model id (``family:version``) on the
promotion topics, so one promotion worker instance decides each model: a status
changes once, by one ``model.promoted`` (or ``model.demoted`` / ``model.deprecated``)
event, never by an update in place. Kernel is a client like any other: it writes
``promotion.request`` and reads the outcome and the signature link here.

The sandbox is the registry's ``draft`` status: a registered version starts there.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from covenant.events.base import Command, Event, Record
from covenant.events.registry import ModelStatus
from covenant.topics import PROMOTION_COMMANDS, PROMOTION_EVENTS, SIGNING_COMMANDS


class Environment(StrEnum):
    """Where a promotion takes a model. ``sandbox`` is where every version starts."""

    SANDBOX = "sandbox"
    STAGING = "staging"
    PROD = "prod"


class KeyCustody(StrEnum):
    """Where the private key of a signature lives, as its signer reports it.

    ``development`` keys (a file, a process) are refused for staging and prod.
    """

    DEVELOPMENT = "development"
    HSM = "hsm"
    KMS = "kms"


class PromotionCheck(StrEnum):
    """Which requirement a blocked promotion failed; one per reason."""

    UNKNOWN_MODEL = "unknown_model"
    ORDER = "order"  # sandbox → staging → prod, no skipping, no going back
    EVALUATION_MISSING = "evaluation_missing"
    EVALUATION_FAILED = "evaluation_failed"
    POLICY_DENIED = "policy_denied"  # SentinelNet did not clear it
    POLICY_TIMEOUT = "policy_timeout"  # SentinelNet did not answer in time
    SIGNATURE_MISSING = "signature_missing"
    SIGNATURE_INVALID = "signature_invalid"
    SIGNATURE_DEVELOPMENT_KEY = "signature_development_key"
    DEPRECATED = "deprecated"
    APPROVERS_UNCONFIGURED = "approvers_unconfigured"  # multisig needed, nobody may approve


class PromotionReason(Record):
    """One reason a promotion is blocked: which check, and what to do about it."""

    check: PromotionCheck
    message: str = Field(description="for people: what is wrong and what to do")


class ManifestSignature(Record):
    """The spec's ManifestSignature: a DSSE-signed in-toto statement over a model's files.

    The signature is over the DSSE pre-authentication encoding of the payload, so it
    is checked with the public key against the envelope, never trusted as given.
    """

    manifest_id: str
    model_id: str
    signer_id: str = Field(description="the key id, ed25519:<16 hex>")
    custody: KeyCustody
    public_key_pem: str
    signature: bytes
    payload_sha256: str = Field(description="hex SHA-256 of the DSSE payload (the statement)")
    envelope: str = Field(description="the DSSE envelope as JSON, checked before it is trusted")
    envelope_artifact_id: str | None = Field(
        default=None, description="the DSSE envelope, stored as an artifact"
    )
    evaluation_id: str | None = None
    watermarked_artifact_id: str | None = Field(
        default=None,
        description="the ONNX model with the manifest digest and signer in its metadata_props",
    )


class RequestPromotion(Command, type="promotion.request", topic=PROMOTION_COMMANDS):
    """Ask to promote a model version to ``target`` (staging or prod)."""

    promotion_id: str
    model_id: str
    target: Environment
    region: str | None = Field(default=None, description="where it will serve (export control)")
    reason: str = ""


class ApprovePromotion(Command, type="promotion.approve", topic=PROMOTION_COMMANDS):
    """One approver's Ed25519-signed approval of a pending promotion.

    The signature covers :func:`covenant.promotion.approvals.approval_message` of the
    promotion id, the request digest, the approver, the expiry and the nonce, so an
    approval cannot be moved to another request, outlive its expiry, or be replayed.
    """

    promotion_id: str
    model_id: str
    approver_id: str
    key_id: str
    request_digest: str = Field(description="hex SHA-256 of the promotion request")
    expires_at: datetime
    nonce: str
    signature: bytes


class ExpirePromotion(Command, type="promotion.expire", topic=PROMOTION_COMMANDS):
    """A deadline passed for a promotion waiting on an answer (the policy decision)."""

    promotion_id: str
    model_id: str
    waiting_for: str
    timeout_s: float


class DeprecateModel(Command, type="model.deprecate", topic=PROMOTION_COMMANDS):
    """Retire a version: it may no longer be promoted or deployed."""

    model_id: str
    reason: str


class DemoteModel(Command, type="model.demote", topic=PROMOTION_COMMANDS):
    """Move a version back down the ladder (prod → staging, staging → sandbox)."""

    model_id: str
    target: Environment
    reason: str


class SignManifest(Command, type="manifest.sign", topic=SIGNING_COMMANDS):
    """Ask the signing worker to sign a version's manifest with the configured key."""

    manifest_id: str
    model_id: str


class ManifestRefused(Event, type="manifest.refused", topic=PROMOTION_EVENTS):
    """A manifest could not be signed (unknown version, signer failure); nothing signed."""

    manifest_id: str
    model_id: str
    reason: str


class ManifestSigned(Event, type="manifest.signed", topic=PROMOTION_EVENTS):
    """A signed manifest now exists for a model version: the signature link."""

    signature: ManifestSignature


class PromotionPending(Event, type="promotion.pending", topic=PROMOTION_EVENTS):
    """A promotion passed the checks it could so far and waits for more.

    Re-emitted with each accepted approval, so the latest one shows who has approved
    and who may still.
    """

    promotion_id: str
    model_id: str
    target: Environment
    region: str | None = None
    waiting_for: str = Field(description="policy or approvals")
    request_digest: str
    required_approvals: int = 0
    approvers: list[str] = Field(default_factory=list, description="who may approve")
    approved_by: list[str] = Field(default_factory=list)
    policy_decision_id: str | None = None
    policy_version: str | None = None


class ApprovalAccepted(Event, type="promotion.approval_accepted", topic=PROMOTION_EVENTS):
    """An approval verified and counted (once per approver)."""

    promotion_id: str
    model_id: str
    approver_id: str
    key_id: str
    nonce: str


class ApprovalRefused(Event, type="promotion.approval_refused", topic=PROMOTION_EVENTS):
    """An approval that does not count, and why (forged, expired, replayed, ...)."""

    promotion_id: str
    model_id: str
    approver_id: str
    nonce: str
    reason: str


class ModelPromoted(Event, type="model.promoted", topic=PROMOTION_EVENTS):
    """The version's status changed, with everything the decision rested on."""

    promotion_id: str
    model_id: str
    from_status: ModelStatus
    to_status: ModelStatus
    signer_id: str
    signature: bytes
    manifest_id: str
    payload_sha256: str
    evaluation_id: str
    policy_decision_id: str
    policy_version: str
    approved_by: list[str] = Field(default_factory=list)


class PromotionBlocked(Event, type="promotion.blocked", topic=PROMOTION_EVENTS):
    """A promotion refused, with every reason; the model's status did not change."""

    promotion_id: str
    model_id: str
    target: Environment
    reasons: list[PromotionReason]


class ModelDemoted(Event, type="model.demoted", topic=PROMOTION_EVENTS):
    """The version moved back down the ladder."""

    model_id: str
    from_status: ModelStatus
    to_status: ModelStatus
    reason: str


class ModelDeprecated(Event, type="model.deprecated", topic=PROMOTION_EVENTS):
    """The version is retired."""

    model_id: str
    from_status: ModelStatus
    reason: str


class LifecycleRefused(Event, type="model.lifecycle_refused", topic=PROMOTION_EVENTS):
    """A demotion or deprecation that cannot be carried out, and why."""

    model_id: str
    action: str = Field(description="demote or deprecate")
    reason: str
