"""The notary: signs a model version's manifest with the configured key.

``manifest.sign`` → an in-toto Statement whose subject is the model file (named as
the run wrote it, its digest the artifact's content address) and whose predicate
holds the registry entry, lineage, the run record, the latest evaluation and the
policy decisions so far → a DSSE envelope signed through the ``Signer`` port (the HSM
or the signing proxy in production; no private key in this process) →
``manifest.signed``, the ManifestSignature linked to the registry entry.

Signing is the one side effect, and an idempotent one: Ed25519 is deterministic, so a
redelivered command signs the same bytes to the same signature; the state tells a
repeat (same manifest id) from news, so the link is written once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from covenant.blobs.protocol import BlobStore
from covenant.errors import CovenantError
from covenant.events.artifacts import RecordArtifact
from covenant.events.base import Message
from covenant.events.promotion import (
    KeyCustody,
    ManifestRefused,
    ManifestSignature,
    ManifestSigned,
    SignManifest,
)
from covenant.events.training import TrainingCleared, TrainingCompleted
from covenant.promotion.state import PromotionState
from covenant.promotion.watermarking import watermarked_copy
from covenant.provenance import (
    Envelope,
    build_predicate,
    build_statement,
    manifest_digest,
    sign_envelope,
    subjects_from_digests,
)
from covenant.runtime.worker import Context, Worker
from covenant.signing import Signer
from covenant.topics import (
    ARTIFACT_COMMANDS,
    PROMOTION_EVENTS,
    SIGNING_COMMANDS,
    TRAIN_EVENTS,
    Topic,
)

__all__ = ["NotaryState", "make_notary_worker"]

log = logging.getLogger(__name__)


@dataclass
class NotaryState(PromotionState):
    """The promotion facts plus each training job's outcome and pre-train clearance."""

    topics: tuple[Topic, ...] = (*PromotionState().topics, TRAIN_EVENTS)
    completed: dict[str, TrainingCompleted] = field(default_factory=dict)
    cleared: dict[str, TrainingCleared] = field(default_factory=dict)
    manifests: set[str] = field(default_factory=set)

    def reset(self) -> None:
        super().reset()
        self.completed.clear()
        self.cleared.clear()
        self.manifests.clear()

    def apply(self, message: Message) -> None:
        if isinstance(message, TrainingCompleted):
            self.completed.setdefault(message.job_id, message)
        elif isinstance(message, TrainingCleared):
            self.cleared.setdefault(message.job_id, message)
        elif isinstance(message, ManifestSigned | ManifestRefused):
            manifest_id = (
                message.signature.manifest_id
                if isinstance(message, ManifestSigned)
                else message.manifest_id
            )
            self.manifests.add(manifest_id)
        super().apply(message)


def make_notary_worker(
    signer: Signer, *, audit_key_id: str | None = None, blobs: BlobStore | None = None
) -> Worker:
    """The ``notary`` worker, signing with ``signer``; ``audit_key_id`` is vouched for
    in every manifest, so offline bundles can trust the audit checkpoints' key. With
    ``blobs``, a signed ONNX model also gets its watermarked copy (stored, recorded)."""
    state = NotaryState()

    async def handle(message: Message, ctx: Context) -> None:
        assert isinstance(message, SignManifest)  # the runtime checks ``accepts``
        if message.manifest_id in state.manifests:
            return
        view = state.models.get(message.model_id)
        if view is None:
            ctx.emit(
                ManifestRefused,
                manifest_id=message.manifest_id,
                model_id=message.model_id,
                reason=f"no model {message.model_id!r} is registered",
            )
            return
        predicate, name = _predicate(state, message.model_id, audit_key_id)
        entry = view.entry
        statement = build_statement(
            subjects_from_digests({name: entry.artifact_id.removeprefix("sha256:")}), predicate
        )
        try:
            envelope = await sign_envelope(statement, signer)
        except CovenantError as exc:
            log.warning("notary: cannot sign %s: %s", message.model_id, exc)
            ctx.emit(
                ManifestRefused,
                manifest_id=message.manifest_id,
                model_id=message.model_id,
                reason=f"the signer refused: {exc}",
            )
            return
        marked = await _watermark(ctx, blobs, entry.artifact_id, name, envelope)
        evaluation = state.evaluations.get(message.model_id)
        ctx.emit(
            ManifestSigned,
            signature=ManifestSignature(
                manifest_id=message.manifest_id,
                model_id=message.model_id,
                signer_id=signer.key_id,
                custody=KeyCustody(signer.custody.value),
                public_key_pem=signer.public_key_pem().decode(),
                signature=envelope.signatures[0].sig,
                payload_sha256=manifest_digest(envelope),
                envelope=envelope.to_bytes().decode(),
                evaluation_id=evaluation.eval_id if evaluation else None,
                watermarked_artifact_id=marked,
            ),
        )

    return Worker(
        name="notary",
        inputs=(SIGNING_COMMANDS,),
        outputs=(PROMOTION_EVENTS, ARTIFACT_COMMANDS),
        accepts=(SignManifest,),
        handle=handle,
        description="signs model manifests (in-toto in DSSE) through the configured signer",
        state=state,
    )


async def _watermark(
    ctx: Context, blobs: BlobStore | None, artifact_id: str, name: str, envelope: Envelope
) -> str | None:
    """The watermarked copy's artifact id (stored, and recorded with the signing), or
    None when there is no store, the file is not ONNX, or onnx is not installed."""
    if blobs is None:
        return None
    copy = await watermarked_copy(blobs, artifact_id=artifact_id, name=name, envelope=envelope)
    if copy is None:
        return None
    ctx.emit(
        RecordArtifact,
        subject=copy.artifact_id,
        name=name.removesuffix(".onnx") + ".watermarked.onnx",
        media_type=copy.media_type,
        claimed_sha256=copy.sha256,
        size_bytes=copy.size,
        blob_uri=copy.uri,
        run_config={"watermarks": artifact_id},
    )
    return copy.artifact_id


def _predicate(
    state: NotaryState, model_id: str, audit_key_id: str | None
) -> tuple[dict[str, Any], str]:
    """The predicate of ``model_id``'s manifest, and the model file's name."""
    entry = state.models[model_id].entry
    job_id = entry.provenance.get("trainingJob")
    completed = state.completed.get(job_id) if job_id else None
    cleared = state.cleared.get(job_id) if job_id else None
    names = [
        a.path
        for a in (completed.artifacts if completed else [])
        if a.artifact_id == entry.artifact_id
    ]
    evaluation = state.evaluations.get(model_id)
    decisions = (
        [
            {
                "stage": "pre_train",
                "decisionId": cleared.decision_id,
                "policyVersion": cleared.policy_version,
                "allowed": True,
            }
        ]
        if cleared
        else []
    )
    predicate = build_predicate(
        model_id=model_id,
        artifact_id=entry.artifact_id,
        registry_entry=entry.model_dump(mode="json"),
        lineage=entry.lineage.model_dump(mode="json"),
        run=completed.record.model_dump(mode="json") if completed else None,
        evaluations=[
            {"evalId": evaluation.eval_id, "passed": evaluation.passed, **evaluation.facts}
        ]
        if evaluation
        else [],
        policy_decisions=decisions,
        audit_key_id=audit_key_id,
    )
    return predicate, (names[0] if names else "model")
