"""Promotion decision latency: from ``promotion.request`` to ``model.promoted``.

The real promotion worker (``covenant.promotion.make_promotion_worker``) and the
built-in policy worker (``covenant.policy.make_policy_worker``, SentinelNet's
pre-promotion policy) run in this process through ``covenant.testing.running``, on
the embedded log (SQLite, a fresh file) or any ``--bus``. Before they start, the log
holds N low-risk and M high-risk versions (default 200 and 50), each registered,
trained on a reviewed dataset, with a passed evaluation and a ``manifest.signed``
signed with a local Ed25519 key and reported as HSM custody (the notary is not in
the path: signing is a separate step, measured in ``bench/signing.py``).

Two measurements, side by side in one run, one promotion at a time (no queue, so
each figure is one decision's own latency, not the wait behind others):

* **low risk, draft → staging** — command → outcome, and its split: command →
  ``promotion.pending`` (the worker's own checks: ladder, evaluation, signature
  verified against the manifest) and pending → ``model.promoted`` (the policy round
  trip: ``policy.requested`` → the policy worker → ``policy.decided`` → the
  promotion worker's re-check and outcome).
* **high risk (``provenance {"risk_tier": "high"}``), staging → prod, 2 of 3
  approvals** — the versions are first taken to staging (untimed), then each is
  requested for prod; as soon as ``promotion.pending`` (waiting for approvals) is
  seen, two approvers sign approvals of its request digest and publish them at
  once. Request → promoted, split into the own checks, the policy round trip
  (until pending for approvals) and the approvals round trip (the bench sees the
  pending, signs twice, publishes; the worker verifies and promotes).

**Clocks.** Every leg is the difference of the events' ``meta.occurred_at``: the
request's is stamped when the bench creates it, just before publishing; the
worker stamps its outputs (``promotion.pending``, ``model.promoted``) when it
emits them, before its atomic commit. All in one process on one clock, so the legs
add up exactly to the total. That leaves out the last commit and a reader's poll,
so the table also shows **observed**: wall clock (``perf_counter``) from just
before ``publish`` of the request to the moment this process reads the committed
``model.promoted`` back (a table reader polled every 2 ms), i.e. what a caller
waiting on the log sees.

Usage::

    .venv/bin/python bench/promotion.py [--models 200] [--multisig 50] [--bus URL] [--json]

Prints a table (``--json`` for machines); no thresholds. Timings are noisy on a
shared machine: compare the legs' ratios, not absolute times across runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from covenant.bus import Bus, open_bus  # noqa: E402
from covenant.events.base import Message  # noqa: E402
from covenant.events.contract import default_codec  # noqa: E402
from covenant.events.datasets import ProvenanceReview  # noqa: E402
from covenant.events.promotion import (  # noqa: E402
    Environment,
    KeyCustody,
    ModelPromoted,
    PromotionBlocked,
    PromotionPending,
    RequestPromotion,
)
from covenant.policy import make_policy_worker  # noqa: E402
from covenant.promotion import make_promotion_worker  # noqa: E402
from covenant.signing import LocalKeySigner, Signer  # noqa: E402
from covenant.testing import builders, publish, running  # noqa: E402
from covenant.topics import ALL_TOPICS, PROMOTION_EVENTS  # noqa: E402
from promotion_support import approval, approvers, group, signed_manifest  # noqa: E402

WARMUP = 5  # promotions before the clock starts: workers joined, tables folded, code warm
# One codec for every publish: ``publish`` without one builds the default codec each
# call (about 50 ms here), which would be timed as part of the request's first leg.
CODEC = default_codec()


@dataclass
class Seen:
    """What the observer has read of one promotion, and when (``perf_counter``)."""

    events: dict[str, Message] = field(default_factory=dict)  # "policy" | "approvals" | outcome
    at: dict[str, float] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class Observer:
    """Reads ``promotion.*`` events as they are committed and wakes who waits for them."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.codec = CODEC
        self.promotions: dict[str, Seen] = {}

    def of(self, promotion_id: str) -> Seen:
        return self.promotions.setdefault(promotion_id, Seen())

    async def run(self, stop: asyncio.Event) -> None:
        async with self.bus.table([PROMOTION_EVENTS]) as reader:
            while not stop.is_set():
                records = await reader.catch_up()
                now = time.perf_counter()
                for record in records:
                    self._note(self.codec.decode(record.value), now)
                if not records:
                    await asyncio.sleep(0.002)

    def _note(self, message: Message, now: float) -> None:
        if isinstance(message, PromotionPending):
            key = message.waiting_for
        elif isinstance(message, ModelPromoted | PromotionBlocked):
            key = "outcome"
        else:
            return
        seen = self.of(message.promotion_id)
        if key not in seen.events:  # the first pending for approvals, not its re-emits
            seen.events[key] = message
            seen.at[key] = now
            seen.changed.set()

    async def wait(self, promotion_id: str, key: str, timeout_s: float = 60.0) -> Message:
        seen = self.of(promotion_id)
        async with asyncio.timeout(timeout_s):
            while key not in seen.events and "outcome" not in seen.events:
                seen.changed.clear()
                await seen.changed.wait()
        if key not in seen.events:  # decided (blocked) before it got there
            return seen.events["outcome"]
        return seen.events[key]


def _request(promotion_id: str, model_id: str, target: Environment) -> RequestPromotion:
    message: RequestPromotion = RequestPromotion.create(
        subject=f"model:{model_id}",
        actor="bench",
        producer="bench",
        promotion_id=promotion_id,
        model_id=model_id,
        target=target,
    )
    return message


def _promoted(message: Message, promotion_id: str) -> ModelPromoted:
    if isinstance(message, PromotionBlocked):
        reasons = "; ".join(r.message for r in message.reasons)
        raise RuntimeError(f"{promotion_id} was blocked: {reasons}")
    assert isinstance(message, ModelPromoted)
    return message


def _ms(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() * 1000


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _summary(samples: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    return {
        leg: {"p50_ms": _quantile(v, 0.5), "p99_ms": _quantile(v, 0.99), "n": len(v)}
        for leg, v in samples.items()
    }


def _progress(label: str, done: int, total: int) -> None:
    if done == total or done % max(1, total // 20) == 0:
        end = "\n" if done == total else ""
        print(f"\r{label}: {done}/{total}", end=end, file=sys.stderr, flush=True)


async def _facts(models: Iterable[str], *, high: bool, signer: Signer) -> list[Message]:
    facts: list[Message] = []
    provenance = {"risk_tier": "high"} if high else None
    for model_id in models:
        registered = builders.model_registered(model_id, datasets=["d1"], provenance=provenance)
        facts += [
            registered,
            builders.evaluation_completed(f"eval-{model_id}", model_id=model_id),
            await signed_manifest(registered.entry, signer, custody=KeyCustody.HSM),
        ]
    return facts


async def _low_risk(bus: Bus, seen: Observer, models: list[str]) -> dict[str, list[float]]:
    legs: dict[str, list[float]] = {
        "command→promoted": [],
        "command→pending (own checks)": [],
        "pending→promoted (policy)": [],
        "observed (wall clock)": [],
    }
    for i, model_id in enumerate(models):
        pid = f"low-{i:04d}"
        request = _request(pid, model_id, Environment.STAGING)
        began = time.perf_counter()
        await publish(bus, request, codec=CODEC)
        promoted = _promoted(await seen.wait(pid, "outcome"), pid)
        if i < WARMUP:
            continue
        pending = seen.of(pid).events["policy"]
        legs["command→promoted"].append(_ms(promoted.meta.occurred_at, request.meta.occurred_at))
        legs["command→pending (own checks)"].append(
            _ms(pending.meta.occurred_at, request.meta.occurred_at)
        )
        legs["pending→promoted (policy)"].append(
            _ms(promoted.meta.occurred_at, pending.meta.occurred_at)
        )
        legs["observed (wall clock)"].append((seen.of(pid).at["outcome"] - began) * 1000)
        _progress("low risk → staging", i + 1, len(models))
    return legs


async def _multisig(
    bus: Bus, seen: Observer, models: list[str], keys: dict[str, Signer]
) -> dict[str, list[float]]:
    # Untimed: to staging first, all at once (high risk needs approvals in prod only).
    staging = [_request(f"hs-{i:04d}", m, Environment.STAGING) for i, m in enumerate(models)]
    await publish(bus, *staging, codec=CODEC)
    for i, request in enumerate(staging):
        _promoted(await seen.wait(request.promotion_id, "outcome", timeout_s=300), "staging")
        _progress("high risk → staging (setup)", i + 1, len(staging))
    legs: dict[str, list[float]] = {
        "request→promoted": [],
        "request→pending (own checks)": [],
        "pending→pending approvals (policy)": [],
        "approvals→promoted (sign, publish, verify)": [],
        "observed (wall clock)": [],
    }
    for i, model_id in enumerate(models):
        pid = f"prod-{i:04d}"
        request = _request(pid, model_id, Environment.PROD)
        began = time.perf_counter()
        await publish(bus, request, codec=CODEC)
        waiting = await seen.wait(pid, "approvals")
        if not isinstance(waiting, PromotionPending):
            _promoted(waiting, pid)  # blocked, or promoted without approvals: say so
            raise RuntimeError(f"{pid} was promoted without waiting for approvals")
        now = datetime.now(UTC)
        signed = [
            await approval(
                keys[who],
                approver_id=who,
                promotion_id=pid,
                model_id=model_id,
                request_digest=waiting.request_digest,
                now=now,
            )
            for who in ("ann", "bob")
        ]
        await publish(bus, *signed, codec=CODEC)
        promoted = _promoted(await seen.wait(pid, "outcome"), pid)
        assert promoted.approved_by == ["ann", "bob"], promoted.approved_by
        if i < WARMUP:
            continue
        policy = seen.of(pid).events["policy"]
        legs["request→promoted"].append(_ms(promoted.meta.occurred_at, request.meta.occurred_at))
        legs["request→pending (own checks)"].append(
            _ms(policy.meta.occurred_at, request.meta.occurred_at)
        )
        legs["pending→pending approvals (policy)"].append(
            _ms(waiting.meta.occurred_at, policy.meta.occurred_at)
        )
        legs["approvals→promoted (sign, publish, verify)"].append(
            _ms(promoted.meta.occurred_at, waiting.meta.occurred_at)
        )
        legs["observed (wall clock)"].append((seen.of(pid).at["outcome"] - began) * 1000)
        _progress("high risk → prod (2 of 3)", i + 1, len(models))
    return legs


async def main(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="covenant-bench-") as folder:
        home = Path(folder)
        url = args.bus or f"sqlite:///{home / 'log.sqlite3'}"
        signer = LocalKeySigner.generate(home / "hsm-standin.pem")
        keys = approvers(home)
        low = [f"low:1.0.{i}" for i in range(args.models + WARMUP)]
        high = [f"high:1.0.{i}" for i in range(args.multisig + WARMUP)] if args.multisig else []
        async with open_bus(url) as bus:
            await bus.ensure_topics(ALL_TOPICS)
            print(f"setting up {len(low) + len(high)} versions …", file=sys.stderr, flush=True)
            facts: list[Message] = [
                builders.dataset_registered("d1", provenance_review=ProvenanceReview.PASSED)
            ]
            facts += await _facts(low, high=False, signer=signer)
            facts += await _facts(high, high=True, signer=signer)
            await publish(bus, *facts, codec=CODEC)
            workers = [make_policy_worker(), make_promotion_worker(approvers=group(keys))]
            seen = Observer(bus)
            stop = asyncio.Event()
            watching = asyncio.create_task(seen.run(stop))
            try:
                async with running(bus, workers):
                    low_legs = await _low_risk(bus, seen, low)
                    high_legs = await _multisig(bus, seen, high, keys) if high else {}
            finally:
                stop.set()
                await watching
    return {
        "bus": url.split(":", 1)[0],
        "python": platform.python_version(),
        "models": args.models,
        "multisig_models": args.multisig,
        "low_risk_to_staging": _summary(low_legs),
        "high_risk_to_prod_2_of_3": _summary(high_legs),
    }


def _table(result: dict[str, Any]) -> str:
    lines = [
        f"log: {result['bus']}, one promotion at a time, meta.occurred_at legs (sum = total); "
        "observed = wall clock publish → committed outcome read back",
        "",
        "| | n | p50 ms | p99 ms | share of p50 |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for title, key in (
        ("low risk, draft → staging", "low_risk_to_staging"),
        ("high risk, staging → prod, 2 of 3", "high_risk_to_prod_2_of_3"),
    ):
        legs = result[key]
        if not legs:
            continue
        total = next(iter(legs.values()))["p50_ms"]
        lines.append(f"| **{title}** | | | | |")
        for leg, s in legs.items():
            share = f"{s['p50_ms'] / total:.0%}" if total and "observed" not in leg else ""
            lines.append(f"| {leg} | {s['n']} | {s['p50_ms']:.1f} | {s['p99_ms']:.1f} | {share} |")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=200, help="low-risk promotions timed")
    parser.add_argument(
        "--multisig", type=int, default=50, help="high-risk 2-of-3 promotions timed (0: none)"
    )
    parser.add_argument("--bus", default="", help="a log URL (default: a fresh embedded one)")
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    outcome = asyncio.run(main(options))
    print(json.dumps(outcome, indent=2) if options.json else _table(outcome))
