"""The watermarked copy of a signed ONNX model, stored beside the original.

At signing, the notary writes the manifest digest and the signer's key id into the
model's own ``metadata_props`` (``covenant.provenance.watermark``), so a model file
found anywhere says which manifest it belongs to; a server checks it with
``check_watermark`` when it loads the file. The signed subject stays the original
bytes: the watermark is appended so that stripping it gives them back exactly.

Only ONNX files are marked. Without the ``onnx`` package the notary still signs and
leaves the copy out (logged): the watermark is provenance for the file, the signed
manifest is what promotions rest on.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from pathlib import Path

from covenant.blobs.protocol import BlobStore, StoredBlob
from covenant.provenance import Envelope, ProvenanceError, embed_watermark

__all__ = ["watermarked_copy"]

log = logging.getLogger(__name__)
ONNX_MEDIA_TYPE = "application/onnx"


async def watermarked_copy(
    blobs: BlobStore, *, artifact_id: str, name: str, envelope: Envelope
) -> StoredBlob | None:
    """Store the watermarked copy of the model at ``artifact_id`` and return it; None
    for a file that is not ONNX, or when the onnx package is missing."""
    if not name.endswith(".onnx"):
        return None
    with tempfile.TemporaryDirectory(prefix="covenant-watermark-") as folder:
        source, target = Path(folder) / "model.onnx", Path(folder) / "marked.onnx"
        with source.open("wb") as out:
            async for chunk in await blobs.open(artifact_id):
                out.write(chunk)
        try:
            await asyncio.to_thread(embed_watermark, source, target, envelope)
        except ProvenanceError as exc:
            if "onnx package" not in str(exc):
                raise
            log.warning("notary: %s is signed but not watermarked: %s", name, exc)
            return None
        with target.open("rb") as data:
            return await blobs.put(source=data, media_type=ONNX_MEDIA_TYPE)
