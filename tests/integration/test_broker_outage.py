"""A worker rides out a broker that is not there yet: started before any broker
listens on its port, it waits (one line saying so, not hundreds of client errors),
and once a broker starts there it joins its group and handles its input."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from covenant.bus import Outgoing, open_bus
from covenant.events.catalog import MESSAGE_TYPES
from covenant.events.codec import Codec
from covenant.events.registry import RegisterModel
from covenant.testing.kafka import LocalKafka, free_port
from covenant.topics import ALL_TOPICS, MODEL_COMMANDS, MODEL_EVENTS

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

# What a line about reaching the broker looks like, ours or the client's.
CONNECTION_LINE = re.compile(
    r"unreachable|still waiting|broker back|Unable connect|Unable to (?:update|request) metadata"
    r"|NodeNotReadyError|KafkaConnectionError|Connect call failed"
)


def start_worker(url: str, home: Path, stderr: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "COVENANT_BUS": url, "COVENANT_HOME": str(home)}
    return subprocess.Popen(
        [sys.executable, "-m", "covenant", "-v", "worker", "registry"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=stderr.open("wb"),
    )


def text(log: Path) -> str:
    """The log so far (a few kB: reading it blocks the loop for no time at all)."""
    return log.read_text()


async def wait_for_line(worker: subprocess.Popen[bytes], log: Path, line: str) -> None:
    """Until the worker has logged ``line``; fails if it exits first."""
    for _ in range(600):
        if line in text(log):
            return
        assert worker.poll() is None, f"the worker exited:\n{text(log)[-3000:]}"
        await asyncio.sleep(0.1)
    raise AssertionError(f"the worker never logged {line!r}:\n{text(log)[-3000:]}")


async def test_a_worker_started_before_the_broker_waits_and_then_processes_its_input(
    kafka_libs: Path, tmp_path: Path
) -> None:
    port = free_port()
    url = f"kafka://127.0.0.1:{port}"
    stderr = tmp_path / "worker.err"
    worker = start_worker(url, tmp_path / "home", stderr)
    broker = LocalKafka(kafka_libs, tmp_path / "kafka", port=port)
    try:
        await wait_for_line(worker, stderr, f"broker 127.0.0.1:{port} unreachable, waiting")
        await asyncio.sleep(3)  # well past the first retries, which used to be fatal
        assert worker.poll() is None, text(stderr)[-3000:]

        await asyncio.to_thread(broker.start)
        codec = Codec(MESSAGE_TYPES)
        command = RegisterModel.create(
            subject="model:outage:1.0.0",
            actor="tester",
            producer="test",
            family="outage",
            version="1.0.0",
            code_ref="git@example.com:x.git#abc",
            artifact_id="sha256:" + "0" * 64,
        )
        async with open_bus(url) as bus:
            await bus.ensure_topics(ALL_TOPICS)
            await bus.publish(
                [Outgoing(MODEL_COMMANDS, b"model:outage:1.0.0", codec.encode(command))]
            )

            async def outcome() -> str:
                async for record in bus.read([MODEL_EVENTS], follow=True):
                    event = codec.decode(record.value)
                    if event.meta.causation_id == command.meta.event_id:
                        return event.TYPE
                return ""

            # Registered or rejected (no artifact was stored): either is the worker's answer.
            assert await asyncio.wait_for(outcome(), 120) in {"model.registered", "model.rejected"}
        await wait_for_line(worker, stderr, "kafka: broker back after")
        worker.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(worker.wait, 60) == 0, text(stderr)[-3000:]
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        await asyncio.to_thread(broker.stop)

    lines = text(stderr).splitlines()
    about_the_broker = [line for line in lines if CONNECTION_LINE.search(line)]
    assert len(about_the_broker) <= 5, "\n".join(about_the_broker[:50])
    assert sum("unreachable, waiting" in line for line in lines) == 1
    assert sum("kafka: broker back after" in line for line in lines) == 1
    assert "worker registry started" in text(stderr)


async def test_a_worker_waiting_for_a_broker_stops_on_sigterm(tmp_path: Path) -> None:
    # No broker at all: the worker waits, and a supervisor's SIGTERM still stops it.
    stderr = tmp_path / "worker.err"
    worker = start_worker(f"kafka://127.0.0.1:{free_port()}", tmp_path / "home", stderr)
    try:
        await wait_for_line(worker, stderr, "unreachable")
        worker.send_signal(signal.SIGTERM)
        for _ in range(150):
            if worker.poll() is not None:
                break
            await asyncio.sleep(0.1)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.wait() == 0, text(stderr)[-3000:]


async def test_a_one_shot_command_gives_up_on_an_unreachable_broker(tmp_path: Path) -> None:
    # A person at a terminal gets one clear line, not an endless wait.
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "covenant", "topics"],
        env={**os.environ, "COVENANT_BUS": f"kafka://127.0.0.1:{free_port()}"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "unreachable" in done.stderr
