"""``POST /eval/run`` and ``GET /eval/{id}``: evaluation requests and outcomes.

The gateway publishes ``eval.run`` keyed by the model id and, with ``?wait``,
answers with the worker's outcome (201 with every figure and gate, or the refusal
as a problem), like ``POST /train/jobs``. Outcomes are read from the evaluation
view (``covenant.gateway.evaluations``), never from the store's lagging copy.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import Field

from covenant.events.evaluation import MetricsConfig, RunEvaluation
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
from covenant.gateway.documents import Document, EvaluationDoc
from covenant.gateway.evaluations import Evaluations
from covenant.gateway.problems import Problem

TAG = "evaluation"


class RunEvaluationBody(_Body):
    """What to evaluate: a registered model version on registered test sets."""

    eval_id: str | None = Field(default=None, description="chosen by the gateway when absent")
    model_id: str
    test_set_refs: list[str] = Field(min_length=1)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)


class EvaluationAcceptedDoc(Document):
    """An accepted evaluation request, not decided yet."""

    eval_id: str
    command_id: str
    status_url: str
    evaluation_url: str


_WRITES: dict[int | str, dict[str, Any]] = {
    201: {"model": EvaluationDoc, "description": "Decided (with ?wait)"},
    202: {"model": EvaluationAcceptedDoc, "description": "Accepted; poll the status link"},
}


def add_evaluation_routes(router: APIRouter, gateway: Gateway, evaluations: Evaluations) -> None:
    """Add ``POST /eval/run`` and ``GET /eval/{eval_id}``."""

    @router.post(
        "/eval/run",
        name="run_evaluation",
        tags=[TAG],
        summary="Evaluate a model version",
        description="Publishes `eval.run`. The evaluation worker scores the model on the "
        "test sets and judges it by its family's gates (`eval.completed`), or says why it "
        "could not (`eval.failed`); `?wait` answers with that outcome.",
        status_code=202,
        responses={**_WRITES, **problem_responses(404, 422, 500, 503)},
    )
    async def run_evaluation(
        request: Request,
        body: RunEvaluationBody,
        wait: Wait = None,
        actor: Actor = "anonymous",
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        eval_id = body.eval_id or f"eval-{uuid.uuid4().hex[:12]}"
        command = RunEvaluation.create(
            subject=body.model_id,
            actor=actor,
            producer=gateway.config.producer,
            idempotency_key=idempotency_key,
            eval_id=eval_id,
            model_id=body.model_id,
            test_set_refs=body.test_set_refs,
            metrics=body.metrics,
        )
        outcome = await gateway.submit(command, wait_s=gateway.wait_seconds(wait))
        if outcome is not None:
            return gateway.answer(request, command, outcome)
        command_id = command.meta.event_id
        status_url = str(request.url_for("get_command", command_id=command_id))
        doc = EvaluationAcceptedDoc(
            eval_id=eval_id,
            command_id=command_id,
            status_url=status_url,
            evaluation_url=str(request.url_for("get_evaluation", eval_id=eval_id)),
        )
        body_json = doc.model_dump(mode="json", by_alias=True)
        return json_response(body_json, 202, headers={"Location": status_url})

    @read_route(router, "/eval/{eval_id}", TAG, EvaluationDoc, 404, 503)
    async def get_evaluation(eval_id: str) -> Response:
        """An evaluation's outcome: every figure and gate verdict, or why it failed.

        404 while it is unknown or not decided yet."""
        outcome = await evaluations.get(eval_id)
        if outcome is None:
            raise Problem(
                404,
                "not-found",
                f"no outcome for evaluation {eval_id!r} (unknown, or not decided yet)",
                title="No such evaluation",
            )
        return Response(EvaluationDoc.of(outcome).json_bytes(), media_type="application/json")
