"""Read models: projections of the log into SQLite (embedded) or PostgreSQL.

The projector that feeds a store lives in ``covenant.store.projector`` (also a
process: ``python -m covenant.store.projector``); it is not imported here, so this
package stays light for readers such as the gateway.
"""

from __future__ import annotations

from covenant.errors import StoreError
from covenant.store._open import open_store
from covenant.store.protocol import ReadStore
from covenant.store.views import (
    ArtifactView,
    DatasetApproval,
    DatasetView,
    Downstream,
    EdgeKind,
    LineageEdge,
    ModelView,
    StatusChange,
    TransformationView,
    Upstream,
)

__all__ = [
    "ArtifactView",
    "DatasetApproval",
    "DatasetView",
    "Downstream",
    "EdgeKind",
    "LineageEdge",
    "ModelView",
    "ReadStore",
    "StatusChange",
    "StoreError",
    "TransformationView",
    "Upstream",
    "open_store",
]
