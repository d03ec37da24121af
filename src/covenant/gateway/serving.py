"""Serving over HTTP: the spec's deploy, status, scale and rollback intents, and the
evidence behind every canary decision.

Writes are commands (``serve.deploy``, ``serve.scale``, ``serve.rollback``) for the
serving worker, which decides; reads come from the worker's own fold
(``ServingState``), caught up before each read, so ``GET /serve/{id}`` says what the
worker decides on. ``?wait`` on a deploy answers once the deployment is recorded or
refused. Scale and rollback find the route of a deployment in that view (a command
is keyed by route), so an unknown deployment is a 404.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import Field

from covenant.bus.protocol import Bus
from covenant.events.base import new_event_id
from covenant.events.codec import Codec
from covenant.events.serving import (
    CanaryConfig,
    DeploymentResources,
    DeployModel,
    RollbackDeployment,
    ScaleDeployment,
)
from covenant.gateway._views import TableView
from covenant.gateway.commands import _Body
from covenant.gateway.context import (
    Actor,
    Gateway,
    IdempotencyKey,
    Wait,
    json_response,
    problem_responses,
)
from covenant.gateway.problems import Problem
from covenant.serving.state import ServingState

__all__ = ["Deployments", "add_serving_routes"]

TAG = "serving"
_POLL_S = 0.05
# A refusal's code → the HTTP status of a ?wait answer.
_STATUS = {"unknown_model": 404, "route_busy": 409, "not_promoted": 409, "unsigned": 409}


def _json(model: Any) -> Any:
    return model.model_dump(mode="json", by_alias=True)


class Deployments(TableView[ServingState]):
    """The serving worker's fold, read again; ``document`` is the read barrier."""

    def __init__(self, *, bus: Bus, codec: Codec) -> None:
        super().__init__(bus=bus, codec=codec, state=ServingState())

    async def route_of(self, deploy_id: str) -> str | None:
        await self.catch_up()
        record = self._state.deployments.get(deploy_id)
        return record.route if record is not None else None

    async def document(self, deploy_id: str, *, explain: bool = False) -> dict[str, Any] | None:
        """Status and endpoints (and with ``explain``, every fact behind them)."""
        await self.catch_up()
        state = self._state
        record = state.deployments.get(deploy_id)
        refusal = state.refusals.get(deploy_id)
        if record is None and refusal is None:
            return None
        doc: dict[str, Any] = {"deployId": deploy_id}
        if record is not None:
            doc["record"] = _json(record)
            split = state.splits.get(record.route)
            doc["traffic"] = _json(split) if split is not None else None
            analyses = state.analyses.get(deploy_id, [])
            doc["lastAnalysis"] = _analysis(analyses[-1], samples=False) if analyses else None
        doc["refusal"] = _json(refusal) if refusal is not None else None
        if explain:
            doc["history"] = [_json(r) for r in state.history.get(deploy_id, [])]
            doc["analyses"] = [
                _analysis(a, samples=True) for a in state.analyses.get(deploy_id, [])
            ]
            doc["scaling"] = [_json(s) for s in state.scales.get(deploy_id, [])]
        return doc


def _analysis(analysis: Any, *, samples: bool) -> dict[str, Any]:
    data: dict[str, Any] = _json(analysis)
    if not samples:
        data.pop("arms", None)
    return data


class DeployBody(_Body):
    """A deployment (the spec's ``POST /serve/deploy``)."""

    deploy_id: str | None = Field(default=None, description="made here when not given")
    model_id: str = Field(description="family:version")
    env: str = Field(description="sandbox, staging or prod")
    route: str = Field(description="the model name clients call: /v2/models/{route}/infer")
    node_pool: str = "default"
    resources: DeploymentResources = Field(default_factory=DeploymentResources)
    canary_config: CanaryConfig | None = None
    reason: str = ""


class ScaleBody(_Body):
    """New replicas or bounds, or a rollout's traffic adjusted by hand."""

    replicas: int | None = Field(default=None, ge=0, le=64)
    min_replicas: int | None = Field(default=None, ge=0, le=64)
    max_replicas: int | None = Field(default=None, ge=1, le=64)
    traffic_percent: int | None = Field(default=None, ge=0, le=100)
    reason: str = ""


class RollbackBody(_Body):
    reason: str = ""


def add_serving_routes(router: APIRouter, gateway: Gateway, deployments: Deployments) -> None:
    """Add the serving routes."""
    producer = gateway.config.producer

    async def settled(deploy_id: str, wait_s: float) -> dict[str, Any] | None:
        deadline = time.monotonic() + wait_s
        while True:
            doc = await deployments.document(deploy_id)
            if doc is not None or time.monotonic() >= deadline:
                return doc
            await asyncio.sleep(_POLL_S)

    async def found(deploy_id: str) -> str:
        route = await deployments.route_of(deploy_id)
        if route is None:
            raise Problem(404, "not-found", f"no deployment {deploy_id!r} is known (yet)")
        return route

    @router.post(
        "/serve/deploy",
        name="deploy_model",
        tags=[TAG],
        summary="Deploy a model version on a route",
        description="Publishes `serve.deploy`. prod serves only versions promoted to prod; "
        "a route with a stable version and a `canaryConfig` takes the new one step by step "
        "against a baseline, rolled back by itself on a regression. `?wait` answers with "
        "the deployment (201) or its refusal.",
        status_code=202,
        responses=problem_responses(404, 409, 422, 503),
    )
    async def deploy_model(
        request: Request,
        body: DeployBody,
        wait: Wait = None,
        actor: Actor = "anonymous",
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        deploy_id = body.deploy_id or f"dep-{new_event_id()[-12:]}"
        command = DeployModel.create(
            subject=f"route:{body.route}",
            actor=actor,
            producer=producer,
            idempotency_key=idempotency_key,
            deploy_id=deploy_id,
            model_id=body.model_id,
            env=body.env,
            route=body.route,
            node_pool=body.node_pool,
            resources=body.resources,
            canary_config=body.canary_config,
            reason=body.reason,
        )
        await gateway.submit(command, wait_s=0)
        url = str(request.url_for("get_deployment", deploy_id=deploy_id))
        wait_s = gateway.wait_seconds(wait)
        doc = await settled(deploy_id, wait_s) if wait_s > 0 else None
        if doc is not None:
            refusal = doc.get("refusal")
            if refusal is not None and doc.get("record") is None:
                status = _STATUS.get(refusal["code"], 422)
                raise Problem(status, refusal["code"].replace("_", "-"), refusal["reason"])
            return json_response(doc, 201, headers={"Location": url})
        accepted = {"deployId": deploy_id, "commandId": command.meta.event_id, "statusUrl": url}
        return json_response(accepted, 202, headers={"Location": url})

    @router.get("/serve/{deploy_id}", name="get_deployment", tags=[TAG])
    async def get_deployment(deploy_id: str) -> Response:
        """A deployment: its record (status, replicas, endpoints, provenance), the route's
        traffic split, the latest canary analysis, and its refusal if it was refused."""
        doc = await deployments.document(deploy_id)
        if doc is None:
            raise Problem(404, "not-found", f"no deployment {deploy_id!r} is known (yet)")
        return json_response(doc)

    @router.get("/serve/{deploy_id}/explain", name="explain_deployment", tags=[TAG])
    async def explain_deployment(deploy_id: str) -> Response:
        """Every fact behind a deployment: each record, each canary analysis with its
        samples, statistics and verdicts, and each scale decision."""
        doc = await deployments.document(deploy_id, explain=True)
        if doc is None:
            raise Problem(404, "not-found", f"no deployment {deploy_id!r} is known (yet)")
        return json_response(doc)

    @router.post(
        "/serve/{deploy_id}/scale",
        name="scale_deployment",
        tags=[TAG],
        summary="Scale a deployment or adjust its rollout",
        status_code=202,
        responses=problem_responses(404, 422, 503),
    )
    async def scale_deployment(
        request: Request,
        deploy_id: str,
        body: ScaleBody,
        wait: Wait = None,
        actor: Actor = "anonymous",
    ) -> Response:
        route = await found(deploy_id)
        command = ScaleDeployment.create(
            subject=f"route:{route}", actor=actor, producer=producer, deploy_id=deploy_id,
            route=route, **body.fields(),
        )  # fmt: skip
        outcome = await gateway.submit(command, wait_s=gateway.wait_seconds(wait))
        return gateway.answer(request, command, outcome)

    @router.post(
        "/serve/{deploy_id}/rollback",
        name="rollback_deployment",
        tags=[TAG],
        summary="Roll a deployment back (a canary ends; a stable returns to its prior version)",
        status_code=202,
        responses=problem_responses(404, 503),
    )
    async def rollback_deployment(
        request: Request, deploy_id: str, body: RollbackBody, wait: Wait = None,
        actor: Actor = "anonymous",
    ) -> Response:  # fmt: skip
        route = await found(deploy_id)
        command = RollbackDeployment.create(
            subject=f"route:{route}", actor=actor, producer=producer, deploy_id=deploy_id,
            route=route, reason=body.reason,
        )  # fmt: skip
        outcome = await gateway.submit(command, wait_s=gateway.wait_seconds(wait))
        return gateway.answer(request, command, outcome)
