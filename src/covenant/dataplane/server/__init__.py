"""The model server: one ONNX model over KServe v2 / Open Inference Protocol REST.

``loading`` decides whether a file may be served (digest; in staging and prod the
signed manifest, a trusted signer and the watermark) and is pure but for reading the
file; ``app`` is the ASGI app; ``python -m covenant.model_server`` runs both. The
app's imports (onnxruntime, uvicorn) are the ``serve`` extra's, so importing this
package pulls in only ``loading``.
"""

from covenant.dataplane.server.loading import (
    REFUSAL_CODES,
    REFUSED_EXIT,
    LoadedModelInfo,
    ModelRefusedError,
    check_model,
    refusal_line,
)

__all__ = [
    "REFUSAL_CODES",
    "REFUSED_EXIT",
    "LoadedModelInfo",
    "ModelRefusedError",
    "check_model",
    "refusal_line",
]
