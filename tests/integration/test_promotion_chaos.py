"""Exactly-once promotions under crashes: 100 versions are promoted to staging by the
promotion worker running as its own OS process, SIGKILLed at random moments and
restarted, while the built-in SentinelNet (policy worker) keeps going in-process.
Among the requests are versions that must be blocked (no evaluation), rival requests
for a version already asked for, and redelivered requests (the same command twice).

Afterwards, on the log: every promotion id has exactly one outcome (``model.promoted``
or ``promotion.blocked``), every version changed status exactly once (draft → staging),
every rival was blocked on the ladder, the unevaluated were blocked naming the missing
evaluation, nothing is left pending, and SentinelNet was asked once per promotion that
passed the worker's own checks, and nothing else."""

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

import pytest

from covenant.bus import Bus
from covenant.events.base import Message
from covenant.events.datasets import ProvenanceReview
from covenant.events.policy import PolicyDecided, PolicyStage, RequestPolicy
from covenant.events.promotion import (
    Environment,
    KeyCustody,
    ModelPromoted,
    PromotionBlocked,
    PromotionCheck,
    PromotionPending,
    RequestPromotion,
)
from covenant.events.registry import ModelStatus
from covenant.policy import make_policy_worker
from covenant.signing import LocalKeySigner
from covenant.testing import builders, collect, publish, running
from covenant.topics import ALL_TOPICS, POLICY_COMMANDS, POLICY_EVENTS, PROMOTION_EVENTS
from promotion_support import signed_manifest

PROMOTIONS = 100  # versions that must end up in staging
UNEVALUATED = 8  # versions without an evaluation: blocked at once
RIVALS = 10  # a second request for a version, in the same batch as the first
REPEATS = 10  # requests redelivered (the same command again), each followed by a rival
BATCH = 10
KILLS = 5
pytestmark = pytest.mark.slow


def model(i: int) -> str:
    return f"chaos:1.0.{i}"


def request(model_id: str, promotion_id: str) -> RequestPromotion:
    return RequestPromotion.create(
        subject=f"model:{model_id}",
        actor="kernel",
        producer="kernel",
        promotion_id=promotion_id,
        model_id=model_id,
        target=Environment.STAGING,
    )


def start_promotion_worker(bus_url: str, home: Path, log: Path) -> subprocess.Popen[bytes]:
    env = os.environ | {"COVENANT_HOME": str(home)}
    env.pop("COVENANT_APPROVERS", None)  # staging needs no approvers
    return subprocess.Popen(
        [sys.executable, "-m", "covenant", "worker", "promotion", "--bus", bus_url],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        env=env,
    )


async def facts(tmp_path: Path) -> list[Message]:
    """A reviewed dataset; every version registered and signed (custody HSM, a real
    Ed25519 signature); all but the unevaluated ones with a passed evaluation."""
    signer = LocalKeySigner.generate(tmp_path / "notary.pem")
    out: list[Message] = [
        builders.dataset_registered("d1", provenance_review=ProvenanceReview.PASSED)
    ]
    for i in range(PROMOTIONS + UNEVALUATED):
        registered = builders.model_registered(model(i), datasets=["d1"])
        out.append(registered)
        if i < PROMOTIONS:
            out.append(builders.evaluation_completed(f"eval-{i}", model_id=model(i)))
        out.append(await signed_manifest(registered.entry, signer, custody=KeyCustody.HSM))
    return out


def requests(rng: random.Random) -> tuple[list[list[RequestPromotion]], dict[str, set[str]]]:
    """The batches to publish, and each version's promotion ids (all but one must be
    blocked on the ladder)."""
    ids: dict[str, set[str]] = {}
    groups: list[list[RequestPromotion]] = []
    for i in range(PROMOTIONS + UNEVALUATED):
        first = request(model(i), f"p-{i}")
        group = [first]
        if i < RIVALS:
            group.append(request(model(i), f"rival-{i}"))
        groups.append(group)
    rng.shuffle(groups)
    flat = [r for g in groups for r in g]
    # Redeliveries: the very same command again, later; then a rival on the same
    # partition, whose outcome shows the redelivery was read before it.
    repeated = rng.sample(range(RIVALS, PROMOTIONS), REPEATS)
    for n, i in enumerate(repeated):
        original = next(r for r in flat if r.promotion_id == f"p-{i}")
        at = min(len(flat), flat.index(original) + BATCH * rng.randint(1, 4) + n % 3)
        flat[at:at] = [original, request(model(i), f"again-{i}")]
    for r in flat:
        ids.setdefault(r.model_id, set()).add(r.promotion_id)
    batches = [flat[s : s + BATCH] for s in range(0, len(flat), BATCH)]
    return batches, ids


async def test_a_sigkilled_promotion_worker_decides_every_request_exactly_once(
    bus: Bus, bus_url: str, tmp_path: Path
) -> None:
    await bus.ensure_topics(ALL_TOPICS)
    home = tmp_path / "home"
    home.mkdir()
    rng = random.Random(23)
    await publish(bus, *await facts(tmp_path))
    batches, ids = requests(rng)
    every_id = {p for group in ids.values() for p in group}
    assert sum(len(b) for b in batches) == len(every_id) + REPEATS

    def all_decided(seen: Sequence[Message]) -> bool:
        done = {m.promotion_id for m in seen if isinstance(m, ModelPromoted | PromotionBlocked)}
        return done >= every_id

    log = tmp_path / "promotion.log"
    worker = start_promotion_worker(bus_url, home, log)
    kills = 0
    published = asyncio.Event()

    async def publisher() -> None:
        for batch in batches:
            await publish(bus, *batch)
            await asyncio.sleep(rng.uniform(0.05, 0.6))
        published.set()

    async def killer() -> None:  # at moments of its own, not the publisher's
        nonlocal worker, kills
        while kills < KILLS:
            await asyncio.sleep(rng.uniform(0.3, 2.0))
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            kills += 1
            worker = start_promotion_worker(bus_url, home, log)
        await published.wait()

    async with running(bus, [make_policy_worker()]):
        try:
            await asyncio.gather(publisher(), killer())
            events = await collect(bus, PROMOTION_EVENTS, until=all_decided, timeout_s=240)
            assert worker.poll() is None, f"the worker died on its own: {log.read_text()[-3000:]}"
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)
    assert kills >= 3, "the worker was not killed often enough to test anything"

    promoted = [m for m in events if isinstance(m, ModelPromoted)]
    blocked = [m for m in events if isinstance(m, PromotionBlocked)]
    pending = [m for m in events if isinstance(m, PromotionPending)]
    outcomes = Counter(m.promotion_id for m in [*promoted, *blocked])
    assert outcomes == Counter(every_id), "a request decided other than exactly once"

    # No status changed twice: each version promoted once, draft → staging.
    by_model: dict[str, list[str]] = {}
    for m in promoted:
        by_model.setdefault(m.model_id, []).append(f"{m.promotion_id} ({m.from_status.value})")
    twice = {k: v for k, v in by_model.items() if len(v) > 1}
    assert not twice, f"promoted twice: {twice}"
    assert set(by_model) == {model(i) for i in range(PROMOTIONS)}
    for m in promoted:
        assert (m.from_status, m.to_status) == (ModelStatus.DRAFT, ModelStatus.STAGING), m
        assert m.promotion_id in ids[m.model_id]
        assert m.evaluation_id == f"eval-{m.model_id.rpartition('.')[2]}"
    why = {m.promotion_id: [r.check for r in m.reasons] for m in blocked}
    for i in range(PROMOTIONS, PROMOTIONS + UNEVALUATED):
        assert why[f"p-{i}"] == [PromotionCheck.EVALUATION_MISSING]
    winners = {m.promotion_id for m in promoted}
    for i in range(PROMOTIONS):
        losers = ids[model(i)] - winners
        assert len(losers) == len(ids[model(i)]) - 1, model(i)
        for promotion_id in losers:  # read after the winner, or decided after it
            assert why[promotion_id] == [PromotionCheck.ORDER], promotion_id
    # Nothing left pending; one pending (waiting for policy) per request that passed
    # the own checks, and SentinelNet asked once for each, answered once each.
    waiting = Counter(m.promotion_id for m in pending)
    assert set(waiting) <= every_id
    assert all(n == 1 for n in waiting.values()), waiting.most_common(3)
    assert {m.waiting_for for m in pending} == {"policy"}
    assert winners <= set(waiting)
    assert not {f"p-{i}" for i in range(PROMOTIONS, PROMOTIONS + UNEVALUATED)} & set(waiting)
    asked = Counter(
        m.subject_id
        for m in await collect(bus, POLICY_COMMANDS)
        if isinstance(m, RequestPolicy) and m.stage is PolicyStage.PRE_PROMOTION
    )
    assert asked == waiting, "SentinelNet asked other than once per pending promotion"
    answered = Counter(
        m.subject_id
        for m in await collect(bus, POLICY_EVENTS)
        if isinstance(m, PolicyDecided) and m.stage is PolicyStage.PRE_PROMOTION
    )
    assert answered == waiting
