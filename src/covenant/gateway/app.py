"""The gateway application, built by a factory from opened resources.

The gateway is thin (ARCHITECTURE.md §1): it turns an HTTP call into a command on
the log and answers queries from the read models; every decision is a worker's.
Nothing is global: ``create_app`` gets the log, the stores and the codec from its
caller, who opened them and closes them, so tests and ``covenant up`` can run
several gateways in one process. The lifespan starts and stops the one task that
follows outcomes (``outcomes.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Response

from covenant import __version__
from covenant.blobs.protocol import BlobStore
from covenant.bus.protocol import Bus
from covenant.events.codec import Codec
from covenant.gateway.artifacts import add_artifact_routes
from covenant.gateway.commands import add_command_routes
from covenant.gateway.config import GatewayConfig
from covenant.gateway.context import Gateway, read_route
from covenant.gateway.documents import HealthDoc
from covenant.gateway.drift import DriftView, add_drift_routes
from covenant.gateway.evaluation import add_evaluation_routes
from covenant.gateway.evaluations import Evaluations
from covenant.gateway.jobs import Jobs
from covenant.gateway.limits import BodyLimit
from covenant.gateway.outcomes import FOLLOWED, Outcomes
from covenant.gateway.problems import PROBLEM_JSON, install_problem_handlers
from covenant.gateway.promotion import add_promotion_routes
from covenant.gateway.promotions import Promotions
from covenant.gateway.queries import add_query_routes
from covenant.gateway.serving import Deployments, add_serving_routes
from covenant.gateway.training import add_training_routes
from covenant.store.protocol import ReadStore
from covenant.topics import (
    ARTIFACT_COMMANDS,
    DATASET_COMMANDS,
    DRIFT_COMMANDS,
    EVAL_COMMANDS,
    MODEL_COMMANDS,
    PROMOTION_COMMANDS,
    SERVE_COMMANDS,
    SIGNING_COMMANDS,
    TRAIN_COMMANDS,
)

_DESCRIPTION = """\
Covenant's HTTP gateway: commands go onto the log, queries are answered from the
read models. Every mutating call is a **command**: it answers `202 Accepted` with
its `commandId` and a status link at once, or, with `?wait=SECONDS`, the outcome
the deciding worker wrote (`201`, or a problem: `409` conflict, `422` refused).

Errors are RFC 9457 problem documents (`application/problem+json`).

Who asks is read from `X-Covenant-Actor` for now (default `anonymous`): a
placeholder until Kernel mTLS authentication lands.
"""

_TAGS = [
    {"name": "artifacts", "description": "Content-addressed, immutable bytes."},
    {"name": "datasets", "description": "Dataset registration with lineage and clearance."},
    {"name": "models", "description": "The model registry."},
    {"name": "lineage", "description": "What was built from what."},
    {"name": "training", "description": "Training jobs: submit, follow, cancel, rerun."},
    {"name": "evaluation", "description": "Evaluation runs: figures, fairness, gates."},
    {"name": "drift", "description": "Drift scores, alerts, retrain proposals, quarantines."},
    {"name": "commands", "description": "The outcome of a submitted command."},
    {"name": "health", "description": "Liveness."},
]


_FASTAPI_422 = "#/components/schemas/HTTPValidationError"
_PROBLEM_REF = "#/components/schemas/ProblemDoc"


class _GatewayApp(FastAPI):
    """FastAPI, with error answers documented as what they are: problem documents
    under ``application/problem+json``. FastAPI files every declared response under
    the route's JSON media type, and adds its own 422 shape to routes with
    parameters; both are corrected once, when the document is first built."""

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            schema = super().openapi()
            for operation in (op for path in schema["paths"].values() for op in path.values()):
                for status, response in operation.get("responses", {}).items():
                    content = response.get("content", {})
                    if status[0] in "45" and "application/json" in content:
                        content[PROBLEM_JSON] = content.pop("application/json")
                        if content[PROBLEM_JSON].get("schema", {}).get("$ref") == _FASTAPI_422:
                            content[PROBLEM_JSON]["schema"] = {"$ref": _PROBLEM_REF}
            for unused in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(unused, None)
        assert self.openapi_schema is not None
        return self.openapi_schema


def create_app(
    *,
    bus: Bus,
    store: ReadStore,
    blobs: BlobStore,
    codec: Codec,
    config: GatewayConfig | None = None,
) -> FastAPI:
    """The gateway over opened resources; the caller keeps them open while it runs.

    Args:
        bus: the log commands are published to and outcomes read from.
        store: the read models that answer queries.
        blobs: the artifact store uploads stream into.
        codec: encodes commands, decodes outcomes (``covenant.events.contract.default_codec``).
        config: limits; the defaults when not given.
    """
    config = config or GatewayConfig()
    outcomes = Outcomes(
        bus=bus,
        codec=codec,
        max_waiters=config.max_waiters,
        remember=config.remembered_outcomes,
    )
    gateway = Gateway(bus, store, blobs, codec, outcomes, config)
    jobs = Jobs(bus=bus, codec=codec)
    promotions = Promotions(bus=bus, codec=codec)
    evaluations = Evaluations(bus=bus, codec=codec)
    deployments = Deployments(bus=bus, codec=codec)
    drift = DriftView(bus=bus, codec=codec)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Idempotent; a gateway started before any worker still finds its topics.
        commands = [
            DATASET_COMMANDS,
            ARTIFACT_COMMANDS,
            MODEL_COMMANDS,
            TRAIN_COMMANDS,
            EVAL_COMMANDS,
            PROMOTION_COMMANDS,
            SIGNING_COMMANDS,
            SERVE_COMMANDS,
            DRIFT_COMMANDS,
        ]
        views = [
            *jobs.topics,
            *promotions.topics,
            *evaluations.topics,
            *deployments.topics,
            *drift.topics,
        ]
        await bus.ensure_topics([*commands, *FOLLOWED, *views])
        await outcomes.start()
        try:
            await jobs.start()  # the job view, rebuilt from the log before serving
            await promotions.start()
            await evaluations.start()
            await deployments.start()
            await drift.start()
            yield
        finally:
            await drift.stop()
            await deployments.stop()
            await evaluations.stop()
            await promotions.stop()
            await jobs.stop()
            await outcomes.stop()

    app = _GatewayApp(
        title="Covenant gateway",
        version=__version__,
        description=_DESCRIPTION,
        openapi_tags=_TAGS,
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=config.max_json_bytes, exempt_suffix="/artifact/upload")
    # Straight onto the app's router, hot reads first: routes are matched in order,
    # and every included router would be one more level to match through.
    add_query_routes(app.router, gateway, evaluations)
    add_artifact_routes(app.router, gateway, promotions)
    add_command_routes(app.router, gateway)
    add_training_routes(app.router, gateway, jobs)
    add_promotion_routes(app.router, gateway, promotions)
    add_evaluation_routes(app.router, gateway, evaluations)
    add_serving_routes(app.router, gateway, deployments)
    add_drift_routes(app.router, gateway, drift)

    @read_route(app.router, "/healthz", "health", HealthDoc)
    async def health() -> Response:
        """Liveness.

        200 while the gateway serves; `followingOutcomes` is false when `?wait` cannot work
        (every wait would end in 202)."""
        doc = HealthDoc(following_outcomes=outcomes.following)
        return Response(doc.json_bytes(), media_type="application/json")

    return app
