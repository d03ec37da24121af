"""Lineage in the formats other tools read: OpenLineage run events, and the
worker that publishes them on ``covenant.lineage.openlineage``."""

from __future__ import annotations

from covenant.lineage.openlineage import run_event
from covenant.lineage.worker import make_openlineage_worker

__all__ = ["make_openlineage_worker", "run_event"]
