"""The model server's ASGI app: KServe v2 / Open Inference Protocol over one ONNX model.

A hand-written ASGI callable, not a framework: the hot path is read body → decode →
``InferenceSession.run`` → encode, with no routing table, no validation layer and
headers prebuilt at start-up, because the bench holds it to 5 times ``mlflow models
serve``. Inference runs on the event loop thread: for millisecond models a thread
hop costs more than it saves, and one replica is one process (scale out, not up).

Every answer names what served it: the response ``parameters`` (OIP allows them) and
``x-covenant-*`` headers carry the model id, version, artifact digest and signer, and
a W3C ``traceparent`` continues the caller's trace (same trace id, new span id) or
starts one.

With a ``sampler`` (``--samples-bus``), each successful answer is offered to it
after inference (``sampling``: a draw and, for kept rows, a copy onto a queue);
without one the hot path pays one ``is None`` test.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from covenant.dataplane.server.loading import LoadedModelInfo
from covenant.dataplane.server.metrics import CONTENT_TYPE, ServerMetrics
from covenant.dataplane.server.oip import (
    DTYPES,
    ORT_TYPES,
    BadRequestError,
    decode_inputs,
    encode_output,
    oip_shape,
    requested_outputs,
)

if TYPE_CHECKING:
    from covenant.dataplane.server.sampling import SamplePublisher

__all__ = ["ModelServerApp", "continue_trace"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

SERVER_NAME: Final = "covenant-model-server"
_TRACEPARENT: Final = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_JSON: Final = (b"content-type", b"application/json")


def continue_trace(header: str | None) -> tuple[str, str]:
    """The trace id to report and the ``traceparent`` to answer with.

    A valid incoming header keeps its trace id and flags with a new span id (this
    server's); a missing or malformed one (or the all-zero ids W3C forbids) starts a
    new sampled trace.
    """
    span = os.urandom(8).hex()
    match = _TRACEPARENT.match(header.strip().lower()) if header else None
    if match and match[1] != "ff" and set(match[2]) != {"0"} and set(match[3]) != {"0"}:
        return match[2], f"00-{match[2]}-{span}-{match[4]}"
    trace = os.urandom(16).hex()
    return trace, f"00-{trace}-{span}-01"


class ModelServerApp:
    """One model version served over OIP; ``ready`` turns true after warm-up."""

    def __init__(
        self,
        info: LoadedModelInfo,
        session: Any,
        metrics: ServerMetrics,
        *,
        sampler: SamplePublisher | None = None,
    ) -> None:
        self.info = info
        self.session = session
        self.metrics = metrics
        self.sampler = sampler
        self.ready = False
        self.inputs = {i.name: ORT_TYPES.get(i.type, i.type) for i in session.get_inputs()}
        self.outputs = [o.name for o in session.get_outputs()]
        self._first_input = next(iter(self.inputs), "")
        self.provenance = {
            "model_id": info.model_id,
            "model_version": info.version,
            "artifact_digest": info.artifact_digest,
            "signer_id": info.signer_id or "",
            "env": info.env,
        }
        self._headers = [
            _JSON,
            (b"x-covenant-model-id", info.model_id.encode()),
            (b"x-covenant-model-version", info.version.encode()),
            (b"x-covenant-artifact-digest", info.artifact_digest.encode()),
            (b"x-covenant-signer-id", (info.signer_id or "").encode()),
        ]
        prefix = f"/v2/models/{info.name}"
        versioned = f"{prefix}/versions/{info.version}"
        self._infer_paths = {f"{prefix}/infer", f"{versioned}/infer"}
        self._meta_paths = {prefix, versioned}
        self._ready_paths = {f"{prefix}/ready", f"{versioned}/ready"}
        self._metadata = json.dumps(self._model_metadata()).encode()

    def _model_metadata(self) -> dict[str, Any]:
        def tensors(items: Any) -> list[dict[str, Any]]:
            return [
                {
                    "name": t.name,
                    "datatype": ORT_TYPES.get(t.type, t.type),
                    "shape": oip_shape(t.shape),
                }
                for t in items
            ]

        return {
            "name": self.info.name,
            "versions": [self.info.version],
            "platform": "onnxruntime_onnx",
            "inputs": tensors(self.session.get_inputs()),
            "outputs": tensors(self.session.get_outputs()),
            "parameters": self.provenance,
        }

    def warm_up(self) -> None:
        """One inference on zeros shaped like the inputs (dynamic dimensions as 1), so
        the first real request does not pay onnxruntime's lazy initialisation."""
        feeds = {}
        for item in self.session.get_inputs():
            shape = [d if isinstance(d, int) and d > 0 else 1 for d in item.shape]
            datatype = ORT_TYPES.get(item.type, "FP32")
            dtype = np.object_ if datatype == "BYTES" else DTYPES[datatype]
            feeds[item.name] = np.zeros(shape, dtype=dtype)
        self.session.run(None, feeds)

    def infer(self, body: Any, trace_id: str) -> dict[str, Any]:
        """The OIP answer to an infer request body (already parsed JSON)."""
        feeds, request_id = decode_inputs(body, self.inputs)
        names = requested_outputs(body, self.outputs)
        try:
            results = self.session.run(names, feeds)
        except Exception as exc:  # onnxruntime's errors share no useful base class
            raise BadRequestError(f"inference failed: {exc}") from None
        answer: dict[str, Any] = {
            "model_name": self.info.name,
            "model_version": self.info.version,
            "parameters": {**self.provenance, "trace_id": trace_id},
            "outputs": [encode_output(n, v) for n, v in zip(names, results, strict=True)],
        }
        if request_id is not None:
            answer["id"] = request_id
        if self.sampler is not None:
            self.sampler.offer(
                body=body,
                request_id=request_id,
                trace_id=trace_id,
                features=feeds[self._first_input],
                names=names,
                results=results,
            )
        return answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await _lifespan(receive, send)
            return
        path, method = scope["path"], scope["method"]
        if method == "POST" and path in self._infer_paths:
            await self._infer(scope, receive, send)
            return
        if method != "GET" and not path.startswith("/v2/models/"):
            await _send(send, 405, {"error": f"{method} {path} is not supported"}, [_JSON])
        elif path == "/v2/health/live":
            await _send(send, 200, {"live": True}, [_JSON])
        elif path == "/v2/health/ready":
            await _send(send, 200 if self.ready else 400, {"ready": self.ready}, [_JSON])
        elif path in self._ready_paths:
            body = {"name": self.info.name, "ready": self.ready}
            await _send(send, 200 if self.ready else 400, body, [_JSON])
        elif path in self._meta_paths:
            await _raw(send, 200, self._metadata, self._headers)
        elif path == "/v2":
            body = {"name": SERVER_NAME, "version": "2", "extensions": []}
            await _send(send, 200, body, [_JSON])
        elif path == "/metrics":
            headers = [(b"content-type", CONTENT_TYPE.encode())]
            await _raw(send, 200, self.metrics.exposition(), headers)
        elif path.startswith("/v2/models/") and not path.startswith(
            f"/v2/models/{self.info.name}/"
        ):
            name = path.removeprefix("/v2/models/").split("/")[0]
            await _send(send, 404, {"error": f"unknown model '{name}'"}, [_JSON])
        else:
            await _send(send, 404, {"error": f"no route {method} {path}"}, [_JSON])

    async def _infer(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        self.metrics.requests.inc()
        trace_id, traceparent = continue_trace(_header(scope, b"traceparent"))
        headers = [*self._headers, (b"traceparent", traceparent.encode())]
        headers.append((b"x-covenant-trace-id", trace_id.encode()))
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        status = 200
        if not self.ready:
            status, answer = 400, {"error": "the model is not ready"}
        else:
            try:
                answer = self.infer(json.loads(b"".join(chunks)), trace_id)
            except json.JSONDecodeError as exc:
                status, answer = 400, {"error": f"the body is not JSON: {exc}"}
            except BadRequestError as exc:
                status, answer = 400, {"error": str(exc)}
        if status != 200:
            self.metrics.errors.inc()
        await _send(send, status, answer, headers)
        self.metrics.latency.observe(time.perf_counter() - started)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


async def _send(send: Send, status: int, body: Any, headers: list[tuple[bytes, bytes]]) -> None:
    await _raw(send, status, json.dumps(body, separators=(",", ":")).encode(), headers)


async def _raw(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
