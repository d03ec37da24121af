"""Side-by-side benchmark of the two logs, with Kafka's own ProducerPerformance as
the reference, all in one run on one machine.

Measures, on the embedded log and on a real single-node Kafka (started here):
  publish     records/s through ``Bus.publish`` (batches of 1,000, 200-byte values)
  consume     records/s through a group consumer committing offsets per batch
  c→p raw     records/s of transactional consume→produce of raw bytes
  c→p worker  records/s of the registry worker process (decode, decide, encode,
              atomic commit): the number a user gets per worker process
  e2e         latency p50/p99 from publishing a command to reading its event,
              at a paced 1,000 commands/s through the worker process
and Kafka's ProducerPerformance (same jars, same broker, same record size,
acks=all, idempotent) as the physical reference for publish.

Usage: .venv/bin/python bench/bus.py [--records N] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from covenant.bus import Bus, Outgoing, open_bus
from covenant.events.artifacts import ArtifactStored
from covenant.events.contract import default_codec
from covenant.events.registry import ModelRegistered, RegisterModel
from covenant.testing.kafka import LocalKafka
from covenant.topics import (
    ALL_TOPICS,
    ARTIFACT_EVENTS,
    MODEL_COMMANDS,
    MODEL_EVENTS,
    Topic,
    TopicKind,
)

ROOT = Path(__file__).resolve().parents[1]
VALUE = b"x" * 200


SHA = "sha256:" + "0" * 64


async def prepare(bus: Bus) -> None:
    """Topics, and the stored artifact the registry requires before it registers."""
    codec = default_codec()
    await bus.ensure_topics(ALL_TOPICS)
    stored = ArtifactStored.create(
        subject=SHA,
        actor="bench",
        producer="bench",
        artifact_id=SHA,
        name="weights",
        media_type="application/octet-stream",
        size_bytes=1,
        blob_uri="file:///dev/null",
    )
    await bus.publish([Outgoing(ARTIFACT_EVENTS, SHA.encode(), codec.encode(stored))])


def commands(n: int) -> list[RegisterModel]:
    """``n`` new versions, in families no earlier call used (each run registers)."""
    tag = uuid.uuid4().hex[:6]
    return [
        RegisterModel.create(
            subject=f"model:fam-{tag}-{i % 64}:1.{i}.0",
            actor="bench",
            producer="bench",
            family=f"fam-{tag}-{i % 64}",
            version=f"1.{i}.0",
            code_ref="git@example.com:x.git#abc",
            artifact_id=SHA,
        )
        for i in range(n)
    ]


async def publish_rate(bus: Bus, topic: Topic, n: int) -> float:
    batch = [Outgoing(topic, f"k{i % 64}".encode(), VALUE) for i in range(1000)]
    start = time.perf_counter()
    for _ in range(n // 1000):
        await bus.publish(batch)
    return n / (time.perf_counter() - start)


async def consume_rate(bus: Bus, topic: Topic, n: int) -> float:
    seen = 0
    start = time.perf_counter()
    async with bus.consumer(group=f"bench-{uuid.uuid4().hex[:6]}", topics=[topic]) as c:
        while seen < n:
            recs = await c.poll(max_records=2000, timeout_s=1.0)
            if recs:
                offsets = {(r.topic, r.partition): r.offset + 1 for r in recs}
                await c.commit(outputs=[], offsets=offsets)
                seen += len(recs)
    return n / (time.perf_counter() - start)


async def consume_produce_rate(bus: Bus, source: Topic, sink: Topic, n: int) -> float:
    seen = 0
    start = time.perf_counter()
    async with bus.consumer(group=f"bench-{uuid.uuid4().hex[:6]}", topics=[source]) as c:
        while seen < n:
            recs = await c.poll(max_records=1000, timeout_s=1.0)
            if recs:
                offsets = {(r.topic, r.partition): r.offset + 1 for r in recs}
                outs = [Outgoing(sink, r.key or b"", r.value) for r in recs]
                await c.commit(outputs=outs, offsets=offsets)
                seen += len(recs)
    return n / (time.perf_counter() - start)


def start_worker(url: str, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "covenant", "-v", "worker", "registry", "--bus", url],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


async def wait_started(log: Path) -> None:
    while "worker registry started" not in log.read_text():
        await asyncio.sleep(0.05)


async def count_events(bus: Bus) -> int:
    return sum((await bus.end_offsets(MODEL_EVENTS)).values())


async def worker_rate(bus: Bus, url: str, n: int, work: Path) -> float:
    """Commands pre-published; time from the worker's first event to its last, so the
    process start and the group join (seconds on Kafka) are not counted."""
    codec = default_codec()
    await prepare(bus)
    cmds = commands(n)
    for i in range(0, n, 1000):
        await bus.publish(
            [
                Outgoing(MODEL_COMMANDS, c.meta.subject.encode(), codec.encode(c))
                for c in cmds[i : i + 1000]
            ]
        )
    log = work / f"worker-{uuid.uuid4().hex[:6]}.log"
    proc = start_worker(url, log)
    try:
        await wait_started(log)
        base = await count_events(bus)
        while (first := await count_events(bus)) == base:
            await asyncio.sleep(0.005)
        start = time.perf_counter()
        while await count_events(bus) < base + n:
            await asyncio.sleep(0.02)
        return (base + n - first) / (time.perf_counter() - start)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


async def e2e_latency(bus: Bus, url: str, seconds: float, work: Path) -> dict[str, float]:
    """Paced 1,000 commands/s; latency = event read time - command publish time."""
    codec = default_codec()
    await prepare(bus)
    log = work / f"worker-{uuid.uuid4().hex[:6]}.log"
    proc = start_worker(url, log)
    sent: dict[str, float] = {}
    latencies: list[float] = []
    total = int(seconds * 1000)
    try:
        await wait_started(log)
        start_offsets = await bus.end_offsets(MODEL_EVENTS)

        async def reader() -> None:
            async for rec in bus.read([MODEL_EVENTS], follow=True):
                if rec.offset < start_offsets.get(rec.partition, 0):
                    continue
                now = time.perf_counter()
                event = codec.decode(rec.value)
                assert isinstance(event, ModelRegistered)
                cause = event.meta.causation_id
                if cause in sent:
                    latencies.append(now - sent[cause])
                if len(latencies) >= total:
                    return

        task = asyncio.create_task(reader())
        cmds = commands(total)
        t0 = time.perf_counter()
        for i, c in enumerate(cmds):
            delay = t0 + i / 1000 - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            data = codec.encode(c)
            sent[c.meta.event_id] = time.perf_counter()
            await bus.publish([Outgoing(MODEL_COMMANDS, c.meta.subject.encode(), data)])
        await asyncio.wait_for(task, 60)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    ms = sorted(x * 1000 for x in latencies)
    return {
        "count": len(ms),
        "p50_ms": statistics.median(ms),
        "p99_ms": ms[int(len(ms) * 0.99) - 1],
        "max_ms": ms[-1],
    }


def producer_performance(kafka: LocalKafka, n: int) -> float:
    topic = f"bench.pp.{uuid.uuid4().hex[:6]}"
    java = ["java", "-Xmx512m", "-cp", f"{kafka.libs}/*"]
    subprocess.run(
        [
            *java,
            "org.apache.kafka.tools.TopicCommand",
            "--bootstrap-server",
            kafka.bootstrap,
            "--create",
            "--topic",
            topic,
            "--partitions",
            "3",
        ],
        check=True,
        capture_output=True,
    )
    out = subprocess.run(
        [
            *java,
            "org.apache.kafka.tools.ProducerPerformance",
            "--topic",
            topic,
            "--num-records",
            str(n),
            "--record-size",
            str(len(VALUE)),
            "--throughput",
            "-1",
            "--producer-props",
            f"bootstrap.servers={kafka.bootstrap}",
            "acks=all",
            "enable.idempotence=true",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    final = [line for line in out.splitlines() if "records sent" in line][-1]
    match = re.search(r"([\d.]+) records/sec", final)
    assert match, final
    return float(match.group(1))


async def bench_log(name: str, url: str, n: int, work: Path) -> dict[str, Any]:
    source = Topic(f"bench.src.{uuid.uuid4().hex[:6]}", 3, TopicKind.EVENT, "bench")
    sink = Topic(f"bench.dst.{uuid.uuid4().hex[:6]}", 3, TopicKind.EVENT, "bench")
    async with open_bus(url) as bus:
        await bus.ensure_topics([source, sink])
        result: dict[str, Any] = {"log": name}
        phases = {
            "publish_per_s": lambda: publish_rate(bus, source, n),
            "consume_per_s": lambda: consume_rate(bus, source, n),
            "consume_produce_raw_per_s": lambda: consume_produce_rate(bus, source, sink, n),
            "worker_per_s": lambda: worker_rate(bus, url, n, work),
            "e2e_at_1000_per_s": lambda: e2e_latency(bus, url, 10.0, work),
        }
        for phase, run in phases.items():
            try:
                result[phase] = await asyncio.wait_for(run(), 300)
            except TimeoutError:
                for log in work.glob("worker-*.log"):
                    print(f"--- {log.name}\n{log.read_text()[-3000:]}", file=sys.stderr)
                raise
            print(f"{name} {phase}: {result[phase]}", file=sys.stderr, flush=True)
    return result


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    libs = subprocess.run(
        ["bash", str(ROOT / "deploy/kafka/fetch.sh")], check=True, capture_output=True, text=True
    ).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with LocalKafka(Path(libs), work / "kafka", heap="1g") as kafka:
            results = {
                "machine": machine(),
                "records": args.records,
                "value_bytes": len(VALUE),
                "kafka_producer_performance_per_s": producer_performance(kafka, args.records * 4),
                "logs": [
                    await bench_log(
                        "embedded", f"sqlite:///{work / 'log.sqlite3'}", args.records, work
                    ),
                    await bench_log(
                        "kafka", f"kafka://{kafka.bootstrap}?namespace=b.", args.records, work
                    ),
                ],
            }
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"machine: {results['machine']}")
    print(f"Kafka ProducerPerformance: {results['kafka_producer_performance_per_s']:,.0f} rec/s")
    for r in results["logs"]:
        e2e = r["e2e_at_1000_per_s"]
        print(
            f"{r['log']:>8}: publish {r['publish_per_s']:,.0f}/s"
            f"  consume {r['consume_per_s']:,.0f}/s"
            f"  c→p raw {r['consume_produce_raw_per_s']:,.0f}/s  worker {r['worker_per_s']:,.0f}/s"
            f"  e2e p50 {e2e['p50_ms']:.1f} ms p99 {e2e['p99_ms']:.1f} ms"
        )


if __name__ == "__main__":
    asyncio.run(main())
