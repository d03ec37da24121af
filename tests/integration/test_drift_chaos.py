"""Exactly-once drift windows under crashes: the drift worker runs as its own OS process,
is SIGKILLed at random moments mid-stream and restarted, on both logs.

Afterwards every window was scored exactly once and none was skipped (windows 0..N-1,
each once), each holds exactly its own rows (the samples at the offsets it names are
the ones it should have), and its statistics equal those of the same rows scored in
one go: the open window rebuilt after each crash is the one that was lost."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from covenant.blobs import open_blobs
from covenant.bus import Bus
from covenant.drift import decisions
from covenant.drift.calibration import calibrate
from covenant.drift.profile import Profile
from covenant.drift.windows import Window, WindowSpec, parse_served
from covenant.events.base import Message
from covenant.events.contract import default_codec
from covenant.events.drift import DriftScored, ObserveSample
from covenant.testing import collect, publish
from covenant.topics import ALL_TOPICS, DRIFT_EVENTS, DRIFT_SAMPLES
from drift_support import env, facts, samples, store_reference

ROWS = 100
WINDOWS = 30
KILLS = 4
pytestmark = pytest.mark.slow


def start(bus_url: str, settings: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "covenant", "worker", "drift", "--bus", bus_url],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        env=os.environ | settings,
    )


async def test_a_sigkilled_drift_worker_scores_every_window_exactly_once(
    bus: Bus, bus_url: str, tmp_path: Path
) -> None:
    await bus.ensure_topics(ALL_TOPICS)
    blobs_dir = tmp_path / "blobs"
    async with open_blobs(f"file://{blobs_dir}") as blobs:
        profile_id = await store_reference(blobs)
        data = b"".join([c async for c in await blobs.open(profile_id)])
    await publish(bus, *facts(profile_id))
    stream = samples(ROWS * WINDOWS, seed=7, shift=0.3)
    rng = random.Random(11)
    settings = env(tmp_path / "home", blobs_dir, ROWS)
    log = tmp_path / "drift.log"
    worker = start(bus_url, settings, log)
    published = asyncio.Event()
    kills = 0

    async def publisher() -> None:
        at = 0
        while at < len(stream):
            step = rng.randint(20, 160)
            await publish(bus, *stream[at : at + step])
            at += step
            await asyncio.sleep(rng.uniform(0.05, 0.4))
        published.set()

    async def killer() -> None:
        nonlocal worker, kills
        while kills < KILLS:
            await asyncio.sleep(rng.uniform(1.5, 3.5))
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            kills += 1
            worker = start(bus_url, settings, log)
        await published.wait()

    def all_scored(seen: Sequence[Message]) -> bool:
        return len({m.window for m in seen if isinstance(m, DriftScored)}) >= WINDOWS

    try:
        await asyncio.gather(publisher(), killer())
        events = await collect(bus, DRIFT_EVENTS, until=all_scored, timeout_s=240)
        await asyncio.sleep(2)  # anything scored twice would show up by now
        events = await collect(bus, DRIFT_EVENTS)
        assert worker.poll() is None, f"the worker died on its own: {log.read_text()[-3000:]}"
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    assert kills == KILLS

    scored = [m for m in events if isinstance(m, DriftScored)]
    assert Counter(m.window for m in scored) == Counter(range(WINDOWS)), "scored twice or skipped"
    scored.sort(key=lambda m: m.window)
    assert all(m.rows == ROWS for m in scored)

    # Each window holds exactly its own rows, and scores as they do in one go.
    codec = default_codec()
    on_log: dict[int, ObserveSample] = {}
    async for record in bus.read([DRIFT_SAMPLES]):
        message = codec.decode(record.value)
        if isinstance(message, ObserveSample):  # one route: one partition, one order
            on_log[record.offset] = message
    profile = Profile.from_bytes(data)
    calibration = calibrate(profile, ROWS, alpha=0.05, resamples=500)
    for window in scored:
        span = window.span
        rows = [on_log[o] for o in range(span.first_offset, span.last_offset + 1) if o in on_log]
        expected = stream[window.window * ROWS : (window.window + 1) * ROWS]
        assert [r.request_id for r in rows] == [r.request_id for r in expected], window.window
        again = Window(profile, WindowSpec(rows=ROWS), index=window.window)
        closed = []
        for r in expected:
            closed += again.add(
                parse_served(profile, r.features, r.categories, r.prediction), r.observed_at
            )
        verdict = decisions.verdict(profile, calibration, closed[0], [])
        for got, want in zip(window.columns, verdict.columns, strict=True):
            for a, b in zip(got.statistics, want.statistics, strict=True):
                assert a.name == b.name
                assert np.isclose(a.value, b.value, rtol=0, atol=1e-12)
                assert np.isclose(a.threshold, b.threshold, rtol=0, atol=1e-12)
