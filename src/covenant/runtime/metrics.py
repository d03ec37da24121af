"""Prometheus metrics of the worker runtime, one registry per process.

The registry is passed in, never global, so tests and several runtimes in one
process do not collide.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass(frozen=True)
class WorkerMetrics:
    """The metric families; each is labelled by worker name."""

    processed: Counter
    failed: Counter
    dead_lettered: Counter
    lag: Gauge
    latency: Histogram

    @classmethod
    def create(cls, registry: CollectorRegistry) -> WorkerMetrics:
        return cls(
            processed=Counter(
                "covenant_worker_processed",
                "Records handled and committed",
                ["worker"],
                registry=registry,
            ),
            failed=Counter(
                "covenant_worker_failed",
                "Handling attempts that raised (each retry counts)",
                ["worker"],
                registry=registry,
            ),
            dead_lettered=Counter(
                "covenant_worker_dead_lettered",
                "Records sent to the dead-letter topic",
                ["worker"],
                registry=registry,
            ),
            lag=Gauge(
                "covenant_worker_consumer_lag",
                "Records on the input topics not yet consumed",
                ["worker"],
                registry=registry,
            ),
            latency=Histogram(
                "covenant_worker_handling_seconds",
                "Time to handle one record, retries included",
                ["worker"],
                registry=registry,
                buckets=(0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0),
            ),
        )
