"""What the serving tests share: real digits models, signed and watermarked as the
notary does, stored in a real artifact store, with the facts the serving worker
reads (registered, signed, promoted to staging and prod)."""

from __future__ import annotations

import hashlib
import io
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from covenant.blobs.protocol import BlobStore
from covenant.events.base import Message
from covenant.events.promotion import (
    Environment,
    KeyCustody,
    ManifestSignature,
    ManifestSigned,
)
from covenant.provenance import (
    build_predicate,
    build_statement,
    embed_watermark,
    manifest_digest,
    sign_envelope,
    subjects_from_digests,
)
from covenant.signing import Signer
from covenant.testing import builders as b
from eval_models import onnx_bytes


def digits() -> tuple[Any, Any]:
    from sklearn.datasets import load_digits

    data = load_digits()
    return data.data.astype(np.float32), data.target


def model(*, shuffled: bool = False, seed: int = 0) -> Any:
    """A logistic regression on the digits; ``shuffled`` trains it on permuted labels
    (the planted accuracy regression: about one answer in ten is right)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    x, y = digits()
    if shuffled:
        y = np.random.default_rng(seed).permutation(y)
    fitted = LogisticRegression(max_iter=300, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted.fit(x, y)
    return fitted


async def served_model(
    blobs: BlobStore, signer: Signer, model_id: str, fitted: Any, *, to: str = "prod"
) -> list[Message]:
    """The facts of ``model_id``: registered, signed by ``signer`` (watermarked copy
    stored) and promoted up to ``to``."""
    data = onnx_bytes(fitted, zipmap=False)
    stored = await blobs.put(source=io.BytesIO(data), media_type="application/onnx")
    digest = hashlib.sha256(data).hexdigest()
    predicate = build_predicate(
        model_id=model_id,
        artifact_id=stored.artifact_id,
        registry_entry={"modelId": model_id},
        lineage={},
        run=None,
    )
    statement = build_statement(subjects_from_digests({"model.onnx": digest}), predicate)
    envelope = await sign_envelope(statement, signer)
    with tempfile.TemporaryDirectory() as folder:
        source, marked = Path(folder) / "model.onnx", Path(folder) / "marked.onnx"
        source.write_bytes(data)
        embed_watermark(source, marked, envelope)
        copy = await blobs.put(
            source=io.BytesIO(marked.read_bytes()), media_type="application/onnx"
        )
    signature = ManifestSignature(
        manifest_id=f"manifest-{model_id}",
        model_id=model_id,
        signer_id=signer.key_id,
        custody=KeyCustody.HSM,
        public_key_pem=signer.public_key_pem().decode(),
        signature=envelope.signatures[0].sig,
        payload_sha256=manifest_digest(envelope),
        envelope=envelope.to_bytes().decode(),
        watermarked_artifact_id=copy.artifact_id,
    )
    facts: list[Message] = [
        b.model_registered(model_id, artifact_id=stored.artifact_id),
        ManifestSigned.create(
            subject=f"model:{model_id}", actor="kernel", producer="notary", signature=signature
        ),
    ]
    if to in ("staging", "prod"):
        facts.append(b.model_promoted(model_id, target=Environment.STAGING))
    if to == "prod":
        facts.append(b.model_promoted(model_id, target=Environment.PROD))
    return facts
