"""Uploading artifacts and reading them back.

An upload is streamed straight into the blob store, which hashes the bytes while
it writes them and publishes them at their content address only when the stream
ended within the size limit and matched the caller's checksum; so a cut-off,
oversized or corrupted upload leaves nothing stored, and the body is never held
whole in memory. Then the gateway claims, in ``artifact.record``, what it stored;
the artifacts worker re-hashes the stored bytes before it records the artifact, so
the gateway is not trusted either. Should publishing fail after the bytes were
stored, they stay stored but unrecorded; the caller's retry finds them already
there (a put of known bytes writes nothing) and records them then.

The name is checked before a byte of the body is read, with the same rule the
worker applies (``covenant.catalog.decisions.name_problems``): a name that could
climb out of a folder or hide in a terminal is refused up front with 400.
"""

from __future__ import annotations

import base64
import json
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.requests import ClientDisconnect

from covenant.blobs.protocol import parse_artifact_id
from covenant.catalog.decisions import name_problems
from covenant.events.artifacts import RecordArtifact
from covenant.gateway.context import (
    Actor,
    Gateway,
    IdempotencyKey,
    Wait,
    problem_responses,
    read_route,
)
from covenant.gateway.documents import (
    AcceptedDoc,
    ArtifactStoredDoc,
)
from covenant.gateway.problems import Problem, validation_problem
from covenant.gateway.promotion_documents import ArtifactProvenanceDoc, SignedProvenanceDoc
from covenant.gateway.promotions import Promotions

_BINARY_BODY = {
    "requestBody": {
        "required": True,
        "description": "The artifact's bytes, streamed; Content-Type is its media type.",
        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
    }
}

Checksum = Annotated[
    str | None,
    Header(
        alias="X-Checksum-Sha256",
        pattern=r"^(sha256:)?[0-9a-fA-F]{64}$",
        description="SHA-256 (hex) the bytes must have; on a mismatch nothing is stored",
    ),
]
GitCommit = Annotated[
    str | None,
    Header(alias="X-Git-Commit", min_length=1, max_length=256, description="commit of the run"),
]
RunConfig = Annotated[
    str | None,
    Header(alias="X-Run-Config", description='JSON object of strings, e.g. {"lr": "0.1"}'),
]


def _run_config(raw: str | None) -> dict[str, str]:
    if raw is None:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        value, problem = None, f"not JSON: {exc.msg}"
    else:
        problem = "should be a JSON object of strings"
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        return value
    raise validation_problem([{"loc": ("header", "X-Run-Config"), "msg": problem}])


def _too_large(size: int, limit: int) -> Problem:
    detail = f"the body has {size} bytes; uploads are limited to {limit}; nothing was stored"
    return Problem(413, "too-large", detail, title="Too large", limit=limit)


def _not_found(artifact_id: str) -> Problem:
    return Problem(
        404,
        "not-found",
        f"no artifact {artifact_id!r} is recorded (ids are sha256:<64 lowercase hex>; "
        "a fresh upload appears once the read model has caught up)",
        title="No such artifact",
    )


def add_artifact_routes(
    router: APIRouter, gateway: Gateway, promotions: Promotions | None = None
) -> None:
    """Add ``POST /artifact/upload``, ``GET /artifact/{id}`` and its ``/content``;
    ``promotions`` gives an artifact its signed provenance."""
    limit = gateway.config.max_upload_bytes

    @router.post(
        "/artifact/upload",
        name="upload_artifact",
        tags=["artifacts"],
        summary="Upload an artifact (model, checkpoint, dataset bytes)",
        description="Streams the body into the artifact store, hashing it on the way, "
        "then publishes `artifact.record`. With ?wait the answer is the recorded "
        "artifact: its id and checksum are `sha256:<hex>` of the bytes as they arrived.",
        status_code=202,
        openapi_extra=_BINARY_BODY,
        responses={
            201: {"model": ArtifactStoredDoc, "description": "Stored and recorded (with ?wait)"},
            202: {"model": AcceptedDoc, "description": "Stored; recording is under way"},
            **problem_responses(400, 413, 422, 500, 503),
        },
    )
    async def upload_artifact(
        request: Request,
        name: Annotated[str, Query(description="relative name, e.g. models/resnet.pt")],
        wait: Wait = None,
        content_type: Annotated[str, Header(alias="Content-Type")] = "application/octet-stream",
        checksum: Checksum = None,
        git_commit: GitCommit = None,
        run_config: RunConfig = None,
        content_length: Annotated[int | None, Header(alias="Content-Length", ge=0)] = None,
        actor: Actor = "anonymous",
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        problems = name_problems(name)
        if problems:
            raise Problem(
                400, "unsafe-name", "; ".join(problems), title="Unsafe name", reasons=problems
            )
        config = _run_config(run_config)
        wait_s = gateway.wait_seconds(wait)
        if content_length is not None and content_length > limit:
            raise _too_large(content_length, limit)
        expected = checksum.lower().removeprefix("sha256:") if checksum else None
        media_type = content_type.strip() or "application/octet-stream"
        try:
            stored = await gateway.blobs.put(
                source=request.stream(),
                media_type=media_type,
                expected_sha256=expected,
                max_bytes=limit,
            )
        except ClientDisconnect:
            raise Problem(
                400, "cut-off", "the body ended early; nothing was stored", title="Cut off"
            ) from None
        command: RecordArtifact = RecordArtifact.create(
            subject=stored.artifact_id,
            actor=actor,
            producer=gateway.config.producer,
            idempotency_key=idempotency_key,
            name=name,
            media_type=media_type,
            claimed_sha256=stored.sha256,
            size_bytes=stored.size,
            blob_uri=stored.uri,
            git_commit=git_commit,
            run_config=config,
        )
        outcome = await gateway.submit(command, wait_s=wait_s)
        resource = ("get_artifact", {"artifact_id": stored.artifact_id})
        return gateway.answer(
            request,
            command,
            outcome,
            resource=resource,
            artifact_id=stored.artifact_id,
        )

    @read_route(router, "/artifact/{artifact_id}", "artifacts", ArtifactProvenanceDoc, 404)
    async def get_artifact(artifact_id: str) -> Response:
        """An artifact's metadata and signed provenance.

        What was recorded: name, media type, size, where it is stored, the commit and run
        configuration that made it; and, for a model's bytes, the DSSE-signed manifest of
        each version they are (`provenance`), which verifies with its public key alone."""
        view = await gateway.store.get_artifact(artifact_id=artifact_id)
        if view is None:
            raise _not_found(artifact_id)
        doc = ArtifactProvenanceDoc.model_validate(view)
        if promotions is not None:
            signed = [
                SignedProvenanceDoc(
                    model_id=s.model_id,
                    manifest_id=s.manifest_id,
                    signer_id=s.signer_id,
                    custody=s.custody.value,
                    public_key_pem=s.public_key_pem,
                    payload_sha256=s.payload_sha256,
                    envelope=json.loads(s.envelope),
                )
                for s in await promotions.signed(artifact_id)
            ]
            doc = doc.model_copy(update={"provenance": signed})
        return Response(doc.json_bytes(), media_type="application/json")

    @router.get(
        "/artifact/{artifact_id}/content",
        name="get_artifact_content",
        tags=["artifacts"],
        summary="An artifact's bytes",
        description="Streams the stored bytes. They never change, so the answer is "
        "cacheable forever; `Repr-Digest` (RFC 9530) carries their SHA-256.",
        response_class=StreamingResponse,
        responses={
            200: {"content": {"application/octet-stream": {}}, "description": "The bytes"},
            304: {"description": "Not modified (If-None-Match)"},
            **problem_responses(404),
        },
    )
    async def get_artifact_content(artifact_id: str, request: Request) -> Response:
        view = await gateway.store.get_artifact(artifact_id=artifact_id)
        if view is None:
            raise _not_found(artifact_id)
        etag = f'"{artifact_id}"'
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers={"ETag": etag})
        digest = base64.b64encode(bytes.fromhex(parse_artifact_id(artifact_id))).decode()
        filename = quote(view.name.rsplit("/", 1)[-1], safe="")
        chunks = await gateway.blobs.open(artifact_id)
        return StreamingResponse(
            chunks,
            media_type=view.media_type,
            headers={
                "Content-Length": str(view.size_bytes),
                "ETag": etag,
                "Cache-Control": "public, max-age=31536000, immutable",
                "Repr-Digest": f"sha-256=:{digest}:",
                "Content-Disposition": f"attachment; filename*=UTF-8''{filename}",
            },
        )
