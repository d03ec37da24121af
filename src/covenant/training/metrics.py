"""Prometheus metrics of training, from the facts the training worker writes.

Each metric is observed when its fact is decided (never when a table replays
it), so a rebuilt worker does not count a job twice. A batch whose commit fails
is decided again, and its facts counted again: a rare over-count that is the
price of keeping metrics out of the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram

from covenant.events.base import Message
from covenant.events.finance import ChargebackRecorded, UsageRecorded
from covenant.events.training import (
    TrainingAllocated,
    TrainingCancelled,
    TrainingCompleted,
    TrainingFailed,
)
from covenant.training.jobs import TrainingState

_DURATIONS = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600)


@dataclass(frozen=True)
class TrainingMetrics:
    """Job duration, queue time, utilisation and cost per model."""

    duration: Histogram
    queued: Histogram
    utilisation: Histogram
    cost: Counter
    ended: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry | None = None) -> TrainingMetrics:
        where = registry or CollectorRegistry()
        return cls(
            duration=Histogram(
                "covenant_training_job_duration_seconds",
                "From the first run's start to the job's end",
                ["model_family", "outcome"],
                registry=where,
                buckets=_DURATIONS,
            ),
            queued=Histogram(
                "covenant_training_queue_seconds",
                "From submit to compute granted",
                ["pool"],
                registry=where,
                buckets=_DURATIONS,
            ),
            utilisation=Histogram(
                "covenant_training_utilisation_ratio",
                "Measured CPU (or GPU) seconds over requested units times wall time",
                ["pool"],
                registry=where,
                buckets=(0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0, 1.5, 2.0),
            ),
            cost=Counter(
                "covenant_training_cost_cents",
                "Charged cost, in cents of the pool's currency",
                ["model_family", "team", "currency"],
                registry=where,
            ),
            ended=Counter(
                "covenant_training_jobs_ended",
                "Jobs that ended, by outcome",
                ["model_family", "outcome"],
                registry=where,
            ),
        )

    def observe(self, message: Message, state: TrainingState) -> None:
        """Count one fact the worker just decided."""
        if isinstance(message, TrainingAllocated):
            job = state.jobs.get(message.job_id)
            if job is not None and job.queued_at is not None:
                waited = (message.meta.occurred_at - job.queued_at).total_seconds()
                self.queued.labels(message.pool).observe(max(0.0, waited))
        elif isinstance(message, TrainingCompleted | TrainingFailed | TrainingCancelled):
            self._ended(message, state)
        elif isinstance(message, UsageRecorded):
            units = message.accelerators or message.cpus
            measured = message.measured_gpu_seconds or message.measured_cpu_seconds
            if measured is not None and units and message.wall_seconds > 0:
                self.utilisation.labels(message.pool).observe(
                    measured / (units * message.wall_seconds)
                )
        elif isinstance(message, ChargebackRecorded):
            self.cost.labels(message.model_family, message.team, message.currency).inc(
                message.cost_cents
            )

    def _ended(
        self, message: TrainingCompleted | TrainingFailed | TrainingCancelled, state: TrainingState
    ) -> None:
        job = state.jobs.get(message.job_id)
        if job is None:
            return
        outcome = message.TYPE.removeprefix("train.")
        family = job.spec.model_family
        self.ended.labels(family, outcome).inc()
        if job.started_at is not None:
            took = (message.meta.occurred_at - job.started_at).total_seconds()
            self.duration.labels(family, outcome).observe(max(0.0, took))
