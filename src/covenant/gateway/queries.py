"""Read endpoints: answered from the read models, never from the log.

Read models follow the log within moments, so a resource registered a moment ago
may still answer 404; the command's status link (``GET /commands/{id}``) is the
place to learn the outcome itself.

These are the hot paths (``GET /models/{id}`` is benchmarked against MLflow's
registry), so each answer is one or two store calls on the store's open
connection, then one serialization to bytes, returned as a plain ``Response``:
FastAPI's response-model validation and ``jsonable_encoder`` are skipped, the
documents are declared only for the OpenAPI description.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from covenant.gateway.context import Gateway, read_route
from covenant.gateway.documents import (
    DatasetDoc,
    DownstreamDoc,
    EvaluationDoc,
    ModelDetailDoc,
    ModelDoc,
    ModelListDoc,
    UpstreamDoc,
)
from covenant.gateway.evaluations import Evaluations
from covenant.gateway.problems import Problem

_JSON = "application/json"


def _missing(what: str, ident: str) -> Problem:
    return Problem(
        404,
        "not-found",
        f"no {what} {ident!r} is registered (a registration appears here once the read "
        "model has caught up with the log)",
        title=f"No such {what}",
    )


def add_query_routes(
    router: APIRouter, gateway: Gateway, evaluations: Evaluations | None = None
) -> None:
    """Add the reads of models, datasets and lineage, answered from the read store
    (a model's latest evaluation from ``evaluations``, when given)."""
    store = gateway.store

    @read_route(router, "/models/{model_id}", "models", ModelDetailDoc, 404)
    async def get_model(model_id: str) -> Response:
        """A model version: metadata, status, lineage and its latest evaluation.

        `modelId` is `family:version`. `status` is the current stage, `history` every
        change; `lineage` is everything the model was made from, transitively
        (datasets with their transformations, parent models, artifacts, code)."""
        view = await store.get_model(model_id=model_id)
        if view is None:
            raise _missing("model", model_id)
        upstream = await store.upstream(model_id=model_id)
        lineage = (
            UpstreamDoc(models=[], datasets=[], artifacts=[], code_refs=[], edges=[])
            if upstream is None
            else UpstreamDoc.model_validate(upstream)
        )
        model = ModelDoc.model_validate(view)
        latest = await evaluations.latest(model_id) if evaluations is not None else None
        evaluation = EvaluationDoc.of(latest) if latest is not None else None
        doc = ModelDetailDoc.model_construct(**dict(model), lineage=lineage, evaluation=evaluation)
        return Response(doc.json_bytes(), media_type=_JSON)

    @read_route(router, "/models", "models", ModelListDoc)
    async def list_models(
        family: Annotated[str | None, Query(description="only this family")] = None,
    ) -> Response:
        """Model versions, optionally of one family.

        Ordered by family, then creation time."""
        views = await store.list_models(family=family)
        doc = ModelListDoc(models=[ModelDoc.model_validate(v) for v in views])
        return Response(doc.json_bytes(), media_type=_JSON)

    @read_route(router, "/datasets/{dataset_id:path}", "datasets", DatasetDoc, 404)
    async def get_dataset(dataset_id: str) -> Response:
        """A dataset: lineage, checksum and training clearance.

        `clearance` is the current one: `blocked` until a flagged or unreviewed dataset is
        approved; `approvals` say who cleared it and why."""
        view = await store.get_dataset(dataset_id=dataset_id)
        if view is None:
            raise _missing("dataset", dataset_id)
        return Response(DatasetDoc.model_validate(view).json_bytes(), media_type=_JSON)

    downstream = "/lineage/datasets/{dataset_id:path}/downstream"

    @read_route(router, downstream, "lineage", DownstreamDoc, 404)
    async def get_dataset_downstream(dataset_id: str) -> Response:
        """Every model built on a dataset.

        Models trained on the dataset and, recursively, models derived from them, with the
        lineage edges that connect them: what to retrain or withdraw when the
        dataset turns out to be tainted."""
        if await store.get_dataset(dataset_id=dataset_id) is None:
            raise _missing("dataset", dataset_id)
        found = await store.downstream(dataset_id=dataset_id)
        return Response(DownstreamDoc.model_validate(found).json_bytes(), media_type=_JSON)
