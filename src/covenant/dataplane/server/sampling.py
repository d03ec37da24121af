"""Sampled rows for drift: what the server answered, published to the samples topic.

With ``--samples-bus URL --sample-rate R`` every answered row is kept with
probability ``R``, drawn per row (independent Bernoulli trials from a
``random.Random``, seeded from the OS unless a seed is given), so a batch request
contributes its rows like single-row requests would. A kept row becomes one
``drift.sample`` (:class:`~covenant.events.drift.ObserveSample`) on
``DRIFT_SAMPLES``, keyed by ``route:<name>``:

* ``features``: that row of the model's first input, flattened, as floats (a
  non-numeric first input cannot be sampled: its rows count as ``invalid``);
* ``prediction``: that row's label from the model's first output (the router's
  rule in ``dataplane.router.samples``): the value itself when the output has one
  value per row, else the index of the row's largest value; ``None`` if the first
  output was not requested and the first answered one has no usable shape;
* ``request_id``: the OIP request ``id`` (else the trace id) plus ``#<row>``;
* ``attributes``: the request's ``parameters["covenant.attributes"]`` object, its
  values as text (JSON spelling for booleans); a list value with one entry per row
  gives each row its own value (a batch of different people);
* ``correlation_id``: the trace id, so a sample is found from the request's trace.

The answer never waits for any of this. The request path only draws, and for a
request with kept rows appends one entry to a bounded queue (``CAPACITY`` rows;
when full, new rows are dropped and counted): references to the answer's arrays
(never written again) and a copy of the kept input rows when only some are kept.
A thread with its own event loop and its own bus connection drains the queue
every ``INTERVAL_S`` (at most ``BATCH_MAX`` rows per publish) and does the rest
(rows to features, labels and attributes; encoding), so neither that work, nor an
SQLite commit waiting for another process's lock, nor a Kafka outage blocks the
serving loop; it still shares the GIL, so at rate 1 a saturated server answers
fewer requests. A failed publish drops its batch (counted), is logged, and the
bus is reopened after a backoff; nothing here can stop the server. At shutdown
what is queued is flushed for at most a few seconds; what is left is counted as
``shutdown``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from numpy.typing import NDArray

from covenant.bus import open_bus
from covenant.dataplane.server.metrics import ServerMetrics
from covenant.dataplane.server.sample_rows import (
    attributes_of,
    pick_rows,
    row_attributes,
    row_features,
    row_predictions,
)
from covenant.events.drift import ObserveSample
from covenant.topics import DRIFT_SAMPLES

if TYPE_CHECKING:
    from covenant.bus.protocol import Bus, Outgoing
    from covenant.events.codec import Codec

__all__ = [
    "BATCH_MAX",
    "CAPACITY",
    "INTERVAL_S",
    "PRODUCER",
    "PendingSample",
    "SamplePublisher",
]

log = logging.getLogger(__name__)

CAPACITY: Final = 10_000
INTERVAL_S: Final = 0.1
BATCH_MAX: Final = 500
PRODUCER: Final = "model-server"
_MAX_BACKOFF_S: Final = 30.0
_TOPIC_TIMEOUT_S: Final = 10.0


@dataclass(frozen=True, slots=True)
class PendingSample:
    """One answered request's kept rows, as the request path left them: references
    and the kept rows of the input, turned into samples later, off that path."""

    base_id: str
    correlation_id: str
    rows: int
    picked: list[int]
    features: NDArray[Any]  # the kept rows only, in ``picked`` order
    output: Any
    attributes: Any
    observed_at: datetime


class SamplePublisher:
    """Keeps a share of answered rows and publishes them (see the module docstring).

    ``offer`` is called on the request path and never raises; ``start`` starts the
    publishing thread, ``close`` flushes and stops it (idempotent).
    """

    def __init__(
        self,
        *,
        bus_url: str,
        rate: float,
        route: str,
        deploy_id: str,
        model_id: str,
        prediction_output: str | None,
        metrics: ServerMetrics,
        capacity: int = CAPACITY,
        interval_s: float = INTERVAL_S,
        seed: int | None = None,
        bus_factory: Callable[[str], Bus] = open_bus,
    ) -> None:
        if not 0.0 < rate <= 1.0:
            raise ValueError(f"the sample rate must be in (0, 1], not {rate}")
        self.bus_url = bus_url
        self.rate = rate
        self.route = route
        self.deploy_id = deploy_id
        self.model_id = model_id
        self.prediction_output = prediction_output
        self.capacity = capacity
        self.interval_s = interval_s
        self._draw = random.Random(seed).random
        self._bus_factory = bus_factory
        self._published = metrics.samples_published
        self._dropped = metrics.samples_dropped
        self._queue: deque[PendingSample] = deque()
        self._in = 0  # rows queued, ever (written by the request path only)
        self._out = 0  # rows taken off the queue, ever (by the publisher only)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._warned = False

    @property
    def queued(self) -> int:
        """Rows waiting to be published."""
        return self._in - self._out

    def offer(
        self,
        *,
        body: Mapping[str, Any],
        request_id: str | None,
        trace_id: str,
        features: NDArray[Any],
        names: Sequence[str],
        results: Sequence[Any],
    ) -> None:
        """Queue the kept rows of one answered request (``features``: the model's
        first input; ``names``/``results``: the outputs answered)."""
        try:
            self._keep(body, request_id or trace_id, trace_id, features, names, results)
        except Exception:  # a sampling bug must never fail the answer
            self._dropped["invalid"].inc()
            if not self._warned:
                self._warned = True
                log.warning("sampling a request failed; its rows are dropped", exc_info=True)

    def _keep(
        self,
        body: Mapping[str, Any],
        base: str,
        trace_id: str,
        features: NDArray[Any],
        names: Sequence[str],
        results: Sequence[Any],
    ) -> None:
        rows = int(features.shape[0]) if features.ndim else 1
        picked = pick_rows(rows, self.rate, self._draw)
        if not picked:
            return
        room = self.capacity - (self._in - self._out)  # only this thread adds
        if room < len(picked):
            self._dropped["queue_full"].inc(len(picked) - max(room, 0))
            if room <= 0:
                return
            picked = picked[:room]
        matrix = features.reshape(rows, -1)
        kept = matrix if len(picked) == rows else matrix[picked]  # a copy of those rows
        index = names.index(self.prediction_output) if self.prediction_output in names else 0
        self._queue.append(
            PendingSample(
                base_id=base,
                correlation_id=trace_id,
                rows=rows,
                picked=picked,
                features=kept,
                output=results[index] if results else None,
                attributes=attributes_of(body),
                observed_at=datetime.now(UTC),
            )
        )
        self._in += len(picked)

    def start(self) -> None:
        """Start publishing (a daemon thread, so a hung bus never holds the exit)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="covenant-samples", daemon=True)
            self._thread.start()

    def close(self, timeout_s: float = 3.0) -> None:
        """Publish what is queued (for at most ``timeout_s``), then stop; rows still
        queued are counted as dropped (``shutdown``)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        left = sum(len(p.picked) for p in self._take(self.capacity + 1))
        if left:
            self._dropped["shutdown"].inc(left)
            log.warning("%d sampled rows were not published before shutdown", left)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException:  # the thread's end; the server serves on without samples
            log.exception("the sample publisher stopped")

    async def _main(self) -> None:
        from covenant.events.contract import default_codec

        codec = default_codec()
        delay = 0.0
        while not self._stop.is_set() or self._queue:
            try:
                async with self._bus_factory(self.bus_url) as bus:
                    await self._ensure_topic(bus)
                    await self._pump(bus, codec)
                return
            except Exception:
                delay = min(max(delay * 2, 1.0), _MAX_BACKOFF_S)
                log.warning(
                    "publishing samples to %s failed; retrying in %.0f s",
                    self.bus_url,
                    delay,
                    exc_info=True,
                )
                if await self._stopped_within(delay):
                    return

    async def _ensure_topic(self, bus: Bus) -> None:
        """Create the samples topic if missing (the platform normally has, with its
        partition count; an existing topic is left as it is)."""
        try:
            await asyncio.wait_for(bus.ensure_topics([DRIFT_SAMPLES]), _TOPIC_TIMEOUT_S)
        except Exception:
            log.warning("could not make sure %s exists", DRIFT_SAMPLES.name, exc_info=True)

    async def _pump(self, bus: Bus, codec: Codec) -> None:
        while True:
            stopping = self._stop.is_set()  # read first: rows queued before it are flushed
            while self._queue:
                records = self._encode(self._take(BATCH_MAX), codec)
                if not records:
                    continue
                try:
                    await bus.publish(records)
                except Exception:
                    self._dropped["publish_failed"].inc(len(records))
                    raise
                self._published.inc(len(records))
            if stopping:
                return
            await asyncio.sleep(self.interval_s)

    async def _stopped_within(self, delay_s: float) -> bool:
        waited = 0.0
        while waited < delay_s:
            if self._stop.is_set():
                return True
            await asyncio.sleep(self.interval_s)
            waited += self.interval_s
        return self._stop.is_set()

    def _take(self, most: int) -> list[PendingSample]:
        """Requests off the queue until they hold ``most`` rows (or it is empty)."""
        batch, rows = [], 0
        while rows < most:
            try:
                pending = self._queue.popleft()
            except IndexError:
                break
            batch.append(pending)
            rows += len(pending.picked)
        self._out += rows
        return batch

    def _encode(self, batch: list[PendingSample], codec: Codec) -> list[Outgoing]:
        records = []
        for pending in batch:
            try:
                records += self._records(pending, codec)
            except Exception:
                self._dropped["invalid"].inc(len(pending.picked))
                log.warning("a sampled request could not be encoded", exc_info=True)
        return records

    def _records(self, pending: PendingSample, codec: Codec) -> list[Outgoing]:
        picked = pending.picked
        matrix = row_features(pending.features, len(picked))
        if matrix is None:  # a non-numeric first input: no features to compare
            self._dropped["invalid"].inc(len(picked))
            return []
        predictions = row_predictions(pending.output, pending.rows, picked)
        attributes = row_attributes(pending.attributes, pending.rows, picked)
        return [
            codec.outgoing(
                ObserveSample.create(
                    subject=f"route:{self.route}",
                    actor="covenant",
                    producer=PRODUCER,
                    correlation_id=pending.correlation_id,
                    route=self.route,
                    deploy_id=self.deploy_id,
                    model_id=self.model_id,
                    request_id=f"{pending.base_id}#{row}",
                    features=matrix[k].tolist(),
                    prediction=predictions[k],
                    attributes=attributes[k],
                    observed_at=pending.observed_at,
                )
            )
            for k, row in enumerate(picked)
        ]
