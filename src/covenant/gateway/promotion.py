"""Promotion over HTTP: sign a version's manifest, promote it, approve, demote, deprecate.

Writes are commands like every other; the promotion worker decides (the gateway
checks only shapes, and that a promotion it is asked to approve exists). Kernel, or
anyone, is a client: ``POST /models/{id}/promote`` publishes ``promotion.request``
and ``GET /promotions/{id}`` shows the outcome as the worker's own fold has it.
``?wait`` on a promote waits until the promotion is no longer waiting for its policy
decision: promoted, blocked, or pending approvals.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

from fastapi import APIRouter, Request, Response
from pydantic import Base64Bytes, Field

from covenant.events.base import Message, new_event_id
from covenant.events.promotion import (
    ApprovePromotion,
    DemoteModel,
    DeprecateModel,
    Environment,
    RequestPromotion,
    SignManifest,
)
from covenant.gateway.commands import _Body
from covenant.gateway.context import (
    Actor,
    Gateway,
    IdempotencyKey,
    Wait,
    json_response,
    problem_responses,
    read_route,
)
from covenant.gateway.problems import Problem
from covenant.gateway.promotion_documents import PromotionAcceptedDoc, PromotionDoc
from covenant.gateway.promotions import Promotions, PromotionView

__all__ = ["add_promotion_routes"]

TAG = "promotion"
_POLL_S = 0.05


class PromoteBody(_Body):
    """Where to promote a version to."""

    target: Environment = Field(description="staging or prod (one step up at a time)")
    region: str | None = Field(default=None, description="where it will serve")
    reason: str = ""
    promotion_id: str | None = Field(default=None, description="made here when not given")


class ApproveBody(_Body):
    """One approver's signed approval (see ``covenant promotions approve``)."""

    approver_id: str
    key_id: str
    request_digest: str
    expires_at: datetime
    nonce: str
    signature: Base64Bytes = Field(description="base64 Ed25519 signature")


class DemoteBody(_Body):
    """Where to move a version back down to, and why."""

    target: Environment
    reason: str


class DeprecateBody(_Body):
    """Why a version is retired."""

    reason: str


def _awaits_policy(view: PromotionView) -> bool:
    return view.pending is not None and view.pending.waiting_for == "policy"


def add_promotion_routes(router: APIRouter, gateway: Gateway, promotions: Promotions) -> None:
    """Add the promotion routes."""
    producer = gateway.config.producer

    async def settled(promotion_id: str, wait_s: float) -> PromotionView | None:
        """The promotion once it no longer waits for its policy decision, or None."""
        deadline = time.monotonic() + wait_s
        while True:
            view = await promotions.get(promotion_id)
            if view is not None and not _awaits_policy(view):
                return view
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(_POLL_S)

    async def command_for(request: Request, command: Message, wait: float | None) -> Response:
        outcome = await gateway.submit(command, wait_s=gateway.wait_seconds(wait))
        return gateway.answer(request, command, outcome)

    @router.post(
        "/models/{model_id}/promote",
        name="promote_model",
        tags=[TAG],
        summary="Promote a model version (sandbox → staging → prod)",
        description="Publishes `promotion.request`. The promotion worker checks the "
        "ladder, the latest evaluation and the manifest signature (an HSM or KMS key), "
        "asks SentinelNet (the pre-promotion policy), and for a high-risk model waits for "
        "k-of-n approvals. `?wait` answers with the promotion once it is promoted, "
        "blocked (every reason), or pending approvals.",
        status_code=202,
        responses={
            200: {"model": PromotionDoc, "description": "The promotion (with ?wait)"},
            202: {"model": PromotionAcceptedDoc, "description": "Accepted"},
            **problem_responses(422, 503),
        },
    )
    async def promote_model(
        request: Request,
        model_id: str,
        body: PromoteBody,
        wait: Wait = None,
        actor: Actor = "anonymous",
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        promotion_id = body.promotion_id or f"promotion-{new_event_id()}"
        command = RequestPromotion.create(
            subject=f"model:{model_id}",
            actor=actor,
            producer=producer,
            idempotency_key=idempotency_key,
            promotion_id=promotion_id,
            model_id=model_id,
            target=body.target,
            region=body.region,
            reason=body.reason,
        )
        wait_s = gateway.wait_seconds(wait)
        await gateway.submit(command, wait_s=0)
        url = str(request.url_for("get_promotion", promotion_id=promotion_id))
        view = await settled(promotion_id, wait_s) if wait_s > 0 else None
        if view is not None:
            return Response(PromotionDoc.of(view).json_bytes(), media_type="application/json")
        doc = PromotionAcceptedDoc(
            promotion_id=promotion_id, command_id=command.meta.event_id, promotion_url=url
        )
        return json_response(
            doc.model_dump(mode="json", by_alias=True), 202, headers={"Location": url}
        )

    @read_route(router, "/promotions/{promotion_id}", TAG, PromotionDoc, 404, 503)
    async def get_promotion(promotion_id: str) -> Response:
        """A promotion: pending (what it waits for, who has approved and who may still),
        blocked with every reason, or promoted with the ManifestSignature link."""
        view = await promotions.get(promotion_id)
        if view is None:
            raise Problem(
                404,
                "not-found",
                f"no promotion {promotion_id!r} is known (yet)",
                title="No such promotion",
            )
        return Response(PromotionDoc.of(view).json_bytes(), media_type="application/json")

    @router.post(
        "/promotions/{promotion_id}/approve",
        name="approve_promotion",
        tags=[TAG],
        summary="Approve a pending high-risk promotion",
        description="Publishes `promotion.approve`, signed by the approver's own key over "
        "the promotion's request digest, an expiry and a nonce. `?wait` answers with the "
        "worker's verdict: accepted, or refused (forged, expired, replayed, not an "
        "approver, already approved).",
        status_code=202,
        responses=problem_responses(403, 404, 503),
    )
    async def approve_promotion(
        request: Request,
        promotion_id: str,
        body: ApproveBody,
        wait: Wait = None,
        actor: Actor = "anonymous",
    ) -> Response:
        view = await promotions.get(promotion_id)
        if view is None:
            raise Problem(404, "not-found", f"no promotion {promotion_id!r} is known")
        command = ApprovePromotion.create(
            subject=f"model:{view.model_id}",
            actor=actor,
            producer=producer,
            correlation_id=view.first.meta.correlation_id,
            promotion_id=promotion_id,
            model_id=view.model_id,
            **body.fields(),
        )
        return await command_for(request, command, wait)

    @router.post(
        "/models/{model_id}/sign",
        name="sign_model",
        tags=[TAG],
        summary="Sign a version's manifest",
        description="Publishes `manifest.sign`: the notary signs an in-toto statement "
        "over the model file (registry entry, lineage, run record, evaluation and policy "
        "decisions in its predicate) into a DSSE envelope with the configured key "
        "(COVENANT_SIGNER: an HSM or the signing proxy in production).",
        status_code=202,
        responses=problem_responses(422, 503),
    )
    async def sign_model(
        request: Request, model_id: str, wait: Wait = None, actor: Actor = "anonymous"
    ) -> Response:
        command = SignManifest.create(
            subject=f"model:{model_id}",
            actor=actor,
            producer=producer,
            manifest_id=f"manifest-{new_event_id()}",
            model_id=model_id,
        )
        return await command_for(request, command, wait)

    @router.post(
        "/models/{model_id}/demote",
        name="demote_model",
        tags=[TAG],
        summary="Move a version back down the ladder",
        status_code=202,
        responses=problem_responses(409, 503),
    )
    async def demote_model(
        request: Request,
        model_id: str,
        body: DemoteBody,
        wait: Wait = None,
        actor: Actor = "anonymous",
    ) -> Response:
        command = DemoteModel.create(
            subject=f"model:{model_id}",
            actor=actor,
            producer=producer,
            model_id=model_id,
            **body.fields(),
        )
        return await command_for(request, command, wait)

    @router.post(
        "/models/{model_id}/deprecate",
        name="deprecate_model",
        tags=[TAG],
        summary="Retire a version",
        status_code=202,
        responses=problem_responses(409, 503),
    )
    async def deprecate_model(
        request: Request,
        model_id: str,
        body: DeprecateBody,
        wait: Wait = None,
        actor: Actor = "anonymous",
    ) -> Response:
        command = DeprecateModel.create(
            subject=f"model:{model_id}",
            actor=actor,
            producer=producer,
            model_id=model_id,
            reason=body.reason,
        )
        return await command_for(request, command, wait)
