"""The worker runtime: consume → catch up → decide → emit, outputs and offsets atomic.

``worker`` declares what a worker is, ``runner`` runs one, ``tables`` keeps a
stateful worker's facts caught up from every partition, ``service`` runs workers
as a process, ``metrics`` are their Prometheus series.
"""

from __future__ import annotations

from covenant.runtime.metrics import WorkerMetrics
from covenant.runtime.runner import RunnerOptions, WorkerRunner
from covenant.runtime.service import (
    install_stop_signals,
    run_together,
    run_workers,
    serve_metrics,
    wait_until_drained,
)
from covenant.runtime.tables import GlobalTables
from covenant.runtime.worker import Context, Handler, Worker, WorkerState

__all__ = [
    "Context",
    "GlobalTables",
    "Handler",
    "RunnerOptions",
    "Worker",
    "WorkerMetrics",
    "WorkerRunner",
    "WorkerState",
    "install_stop_signals",
    "run_together",
    "run_workers",
    "serve_metrics",
    "wait_until_drained",
]
