"""The model server's drift sampling: row picks, features, predictions, attributes,
the bounded queue, publish failures, and the flags it refuses."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import numpy as np
import pytest

from covenant.bus import open_bus
from covenant.bus.protocol import Outgoing, Position
from covenant.dataplane.server.metrics import ServerMetrics
from covenant.dataplane.server.sample_rows import (
    attributes_of,
    pick_rows,
    row_attributes,
    row_features,
    row_predictions,
)
from covenant.dataplane.server.sampling import SamplePublisher
from covenant.events.contract import default_codec
from covenant.events.drift import ObserveSample
from covenant.model_server import main
from covenant.topics import DRIFT_SAMPLES


def test_pick_rows_keeps_all_at_rate_1_and_a_share_below() -> None:
    assert pick_rows(4, 1.0, lambda: 0.99) == [0, 1, 2, 3]
    draws = iter([0.05, 0.5, 0.09, 0.2])
    assert pick_rows(4, 0.1, lambda: next(draws)) == [0, 2]
    rng = np.random.default_rng(1)
    kept = sum(len(pick_rows(100, 0.1, lambda: float(rng.random()))) for _ in range(200))
    assert 1700 < kept < 2300


def test_row_features_flatten_each_row_as_floats() -> None:
    batch = np.arange(8, dtype=np.float32).reshape(2, 2, 2)
    matrix = row_features(batch, 2)
    assert matrix is not None
    assert matrix.dtype == np.float64
    assert matrix.tolist() == [[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0]]
    ints = row_features(np.array([[1, 2]], dtype=np.int64), 1)
    assert ints is not None
    assert ints.tolist() == [[1.0, 2.0]]
    assert row_features(np.array([["a"]], dtype=np.object_), 1) is None


def test_row_predictions_take_the_label_or_the_argmax() -> None:
    labels = np.array([3, 1, 4], dtype=np.int64)
    assert row_predictions(labels, 3, [0, 2]) == ["3", "4"]
    scores = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]], dtype=np.float32)
    assert row_predictions(scores, 3, [0, 1, 2]) == ["1", "0", "1"]
    names = np.array(["cat", "dog"], dtype=np.object_)
    assert row_predictions(names, 2, [1]) == ["dog"]
    assert row_predictions(np.array([0.5], dtype=np.float32), 1, [0]) == ["0.5"]
    assert row_predictions(np.zeros(5), 2, [0]) == [None]  # 5 values fit no 2 rows
    assert row_predictions(None, 2, [0, 1]) == [None, None]


def test_row_attributes_as_text_shared_or_per_row() -> None:
    body = {
        "parameters": {
            "covenant.attributes": {
                "region": "eu",
                "vip": False,
                "score": 1.5,
                "age": [30, 40],
                "wrong_length": [1, 2, 3],
                "nested": {"a": 1},
            }
        }
    }
    assert row_attributes(attributes_of(body), 2, [0, 1]) == [
        {"region": "eu", "vip": "false", "score": "1.5", "age": "30"},
        {"region": "eu", "vip": "false", "score": "1.5", "age": "40"},
    ]
    assert attributes_of({}) is None
    assert row_attributes(None, 2, [1]) == [{}]
    assert row_attributes(attributes_of({"parameters": {"covenant.attributes": "x"}}), 1, [0]) == [
        {}
    ]


class _MemoryBus:
    """Just enough of a bus: publish, optionally failing the first ``fail`` calls."""

    def __init__(self, fail: int = 0) -> None:
        self.published: list[Outgoing] = []
        self.fail = fail
        self.opened = 0

    async def __aenter__(self) -> Self:
        self.opened += 1
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    async def ensure_topics(self, topics: Sequence[object]) -> None:
        return None

    async def publish(self, records: Sequence[Outgoing]) -> list[Position]:
        if self.fail > 0:
            self.fail -= 1
            raise OSError("broker gone")
        self.published.extend(records)
        return []


def _publisher(bus: _MemoryBus, metrics: ServerMetrics, **kw: Any) -> SamplePublisher:
    return SamplePublisher(
        bus_url="memory://",
        rate=kw.pop("rate", 1.0),
        route="r",
        deploy_id="d",
        model_id="m:1",
        prediction_output="label",
        metrics=metrics,
        interval_s=0.01,
        bus_factory=lambda _url: bus,  # type: ignore[arg-type,return-value]
        **kw,
    )


def _offer(publisher: SamplePublisher, rows: int, request_id: str | None = "q") -> None:
    publisher.offer(
        body={},
        request_id=request_id,
        trace_id="t" * 32,
        features=np.ones((rows, 2), dtype=np.float32),
        names=["probabilities", "label"],
        results=[np.zeros((rows, 3)), np.arange(rows, dtype=np.int64)],
    )


def _value(metrics: ServerMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, {"model": "m", "version": "1", **labels})
    return value or 0.0


def test_a_full_queue_drops_and_counts_and_never_raises() -> None:
    metrics = ServerMetrics("m", "1")
    publisher = _publisher(_MemoryBus(), metrics, capacity=5)
    _offer(publisher, 3)
    _offer(publisher, 3)  # 2 fit, 1 dropped
    _offer(publisher, 2)  # none fit
    assert publisher.queued == 5
    assert _value(metrics, "covenant_samples_dropped_total", reason="queue_full") == 3
    publisher.offer(  # a malformed call is counted, not raised
        body={}, request_id=None, trace_id="t", features=None,  # type: ignore[arg-type]
        names=[], results=[],
    )  # fmt: skip
    assert _value(metrics, "covenant_samples_dropped_total", reason="invalid") == 1


def test_published_samples_decode_with_the_named_output_as_prediction() -> None:
    bus, metrics = _MemoryBus(), ServerMetrics("m", "1")
    publisher = _publisher(bus, metrics)
    publisher.start()
    _offer(publisher, 3)
    _offer(publisher, 1, request_id=None)
    publisher.offer(  # a text input cannot be compared: counted, not published
        body={}, request_id="text", trace_id="t" * 32,
        features=np.array([["x"]], dtype=np.object_), names=["label"], results=[np.array([1])],
    )  # fmt: skip
    publisher.close(5.0)
    codec = default_codec()
    samples = [codec.decode(r.value) for r in bus.published]
    assert all(isinstance(s, ObserveSample) for s in samples)
    assert [s.request_id for s in samples] == ["q#0", "q#1", "q#2", "t" * 32 + "#0"]  # type: ignore[attr-defined]
    assert [s.prediction for s in samples] == ["0", "1", "2", "0"]  # type: ignore[attr-defined]
    assert all(r.topic == DRIFT_SAMPLES and r.key == b"route:r" for r in bus.published)
    assert _value(metrics, "covenant_samples_published_total") == 4
    assert _value(metrics, "covenant_samples_dropped_total", reason="invalid") == 1


def test_a_failed_publish_is_counted_and_the_publisher_carries_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus, metrics = _MemoryBus(fail=1), ServerMetrics("m", "1")
    publisher = _publisher(bus, metrics)
    publisher.start()
    _offer(publisher, 2)
    deadline = time.monotonic() + 10
    while not _value(metrics, "covenant_samples_dropped_total", reason="publish_failed"):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    _offer(publisher, 3)  # after the 1 s backoff, on a reopened bus
    while len(bus.published) < 3:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    publisher.close(5.0)
    assert _value(metrics, "covenant_samples_dropped_total", reason="publish_failed") == 2
    assert _value(metrics, "covenant_samples_published_total") == 3
    assert bus.opened == 2
    assert "publishing samples to memory:// failed" in caplog.text


def test_close_without_start_counts_what_is_left() -> None:
    metrics = ServerMetrics("m", "1")
    publisher = _publisher(_MemoryBus(), metrics)
    _offer(publisher, 2)
    publisher.close(0.1)
    publisher.close(0.1)  # twice is harmless
    assert _value(metrics, "covenant_samples_dropped_total", reason="shutdown") == 2


async def test_publishes_to_a_real_embedded_log(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.sqlite3'}"
    metrics = ServerMetrics("m", "1")
    publisher = SamplePublisher(
        bus_url=url, rate=1.0, route="r", deploy_id="d", model_id="m:1",
        prediction_output="label", metrics=metrics,
    )  # fmt: skip
    publisher.start()
    _offer(publisher, 2)
    await asyncio.to_thread(publisher.close, 5.0)
    codec = default_codec()
    async with open_bus(url) as bus:
        got = [codec.decode(r.value) async for r in bus.read([DRIFT_SAMPLES])]
    assert [s.request_id for s in got] == ["q#0", "q#1"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--sample-rate", "2"], "between 0 and 1"),
        (["--sample-rate", "nan"], "between 0 and 1"),
        (["--sample-rate", "lots"], "between 0 and 1"),
        (["--sample-rate", "0.5"], "--sample-rate needs --samples-bus"),
        (["--samples-bus", "sqlite:///x.db"], "--samples-bus needs --route and --deploy-id"),
        (["--samples-bus", "sqlite:///x.db", "--route", "r"], "needs --deploy-id"),
        (["--samples-bus", "mysql://h", "--route", "r", "--deploy-id", "d"], "unsupported log"),
        (["--samples-bus", "kafka://", "--route", "r", "--deploy-id", "d"], "give the brokers"),
    ],
)
def test_bad_sampling_flags_exit_2(
    flags: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--model-id", "m:1", "--model", "m.onnx", "--digest", "sha256:00", "--env", "sandbox"]
    with pytest.raises(SystemExit) as exc:
        main([*base, *flags])
    assert exc.value.code == 2
    assert fragment in capsys.readouterr().err


def test_a_share_of_rows_keeps_each_row_with_its_own_features_and_label() -> None:
    bus, metrics = _MemoryBus(), ServerMetrics("m", "1")
    publisher = _publisher(bus, metrics, rate=0.5, seed=3)
    publisher.start()
    features = np.arange(40, dtype=np.float32).reshape(20, 2)
    publisher.offer(
        body={"parameters": {"covenant.attributes": {"g": list("abcdefghijklmnopqrst")}}},
        request_id="batch",
        trace_id="t" * 32,
        features=features,
        names=["label"],
        results=[np.arange(20, dtype=np.int64) * 10],
    )
    publisher.close(5.0)
    codec = default_codec()
    samples = [codec.decode(r.value) for r in bus.published]
    assert 3 <= len(samples) < 18
    for sample in samples:
        assert isinstance(sample, ObserveSample)
        row = int(sample.request_id.removeprefix("batch#"))
        assert sample.features == [2.0 * row, 2.0 * row + 1]
        assert sample.prediction == str(10 * row)
        assert sample.attributes == {"g": "abcdefghijklmnopqrst"[row]}
    assert _value(metrics, "covenant_samples_published_total") == len(samples)
