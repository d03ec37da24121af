"""Prometheus metrics of one model server, per model and version.

A registry of its own (not the process-global default), so two servers in one test
process never share counters, and label children are bound once so the hot path does
no label lookup. Buckets are for millisecond-scale inference: a sklearn model on
onnxruntime answers in tens of microseconds, a large one in hundreds of milliseconds.

The sample counters are there (at zero) even when sampling is off, so a dashboard
tells "off" from "missing": ``covenant_samples_published_total`` counts rows
published to the drift samples topic, ``covenant_samples_dropped_total`` rows not
published, by ``reason`` (``queue_full``, ``publish_failed``, ``invalid``,
``shutdown``; see ``sampling``).
"""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE", "DROP_REASONS", "LATENCY_BUCKETS", "ServerMetrics"]

CONTENT_TYPE: Final = CONTENT_TYPE_LATEST
LATENCY_BUCKETS: Final = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)
DROP_REASONS: Final = ("queue_full", "publish_failed", "invalid", "shutdown")


class ServerMetrics:
    """Requests, errors and inference latency of one served model version."""

    def __init__(self, model: str, version: str) -> None:
        self.registry = CollectorRegistry()
        labels = ("model", "version")
        requests = Counter(
            "covenant_model_requests",
            "Inference requests received.",
            labels,
            registry=self.registry,
        )
        errors = Counter(
            "covenant_model_errors",
            "Inference requests answered with an error.",
            labels,
            registry=self.registry,
        )
        latency = Histogram(
            "covenant_model_latency_seconds",
            "Time from request body read to response ready, per inference request.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        published = Counter(
            "covenant_samples_published",
            "Sampled rows published to the drift samples topic.",
            labels,
            registry=self.registry,
        )
        dropped = Counter(
            "covenant_samples_dropped",
            "Sampled rows not published, by reason.",
            (*labels, "reason"),
            registry=self.registry,
        )
        self.requests = requests.labels(model, version)
        self.errors = errors.labels(model, version)
        self.latency = latency.labels(model, version)
        self.samples_published = published.labels(model, version)
        self.samples_dropped = {r: dropped.labels(model, version, r) for r in DROP_REASONS}

    def exposition(self) -> bytes:
        """The text format a Prometheus scrape reads."""
        return generate_latest(self.registry)
