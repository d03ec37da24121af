"""The policy worker on both logs: every request gets a decision, garbage included,
and nothing it cannot decode stops it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from covenant.bus import Bus, Outgoing
from covenant.events.base import Message
from covenant.events.policy import PolicyDecided, PolicyStage, RequestPolicy
from covenant.events.refusals import RefusalCode
from covenant.policy import DECIDED_BY, NO_POLICY, make_policy_worker
from covenant.testing import collect, drain, embedded_log, publish, running
from covenant.topics import DEADLETTER, POLICY_COMMANDS, POLICY_EVENTS

CLEAN = {
    "license": "CC-BY-4.0",
    "pii_flags": [],
    "clearance": "allowed",
    "provenance_review": "passed",
    "approved": False,
    "checksum": "sha256:" + "ab" * 32,
}


def input_json(**datasets: dict[str, Any]) -> str:
    request = {"job_id": "j", "team": "risk", "dataset_refs": list(datasets)}
    document = {"request": request, "facts": {"datasets": datasets}}
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def request(
    job_id: str, document: str, stage: PolicyStage = PolicyStage.PRE_TRAIN
) -> RequestPolicy:
    return RequestPolicy.create(
        subject=f"job:{job_id}",
        actor="alice",
        producer="training",
        idempotency_key=f"policy-{job_id}",
        stage=stage,
        subject_id=job_id,
        input_json=document,
    )


def requests() -> dict[str, RequestPolicy]:
    return {
        "clean": request("clean", input_json(sales=CLEAN)),
        "mixed": request(
            "mixed",
            input_json(
                sales=CLEAN,
                users=CLEAN | {"pii_flags": ["email"]},
                books=CLEAN | {"license": "LicenseRef-no-training", "provenance_review": None},
            ),
        ),
        "ghost": request("ghost", input_json(sales=CLEAN).replace('["sales"]', '["sales","x"]')),
        "garbage": request("garbage", "{not json"),
        "runtime": request("runtime", input_json(), PolicyStage.RUNTIME),
    }


async def decided_by_cause(bus: Bus, count: int) -> dict[str, PolicyDecided]:
    events = await collect(bus, POLICY_EVENTS, until=lambda ms: len(ms) >= count)
    found: dict[str, PolicyDecided] = {}
    for event in events:
        assert isinstance(event, PolicyDecided)
        assert event.meta.causation_id is not None
        found[event.meta.causation_id] = event
    return found


async def test_every_request_gets_a_decision(bus: Bus) -> None:
    await bus.ensure_topics([POLICY_COMMANDS, POLICY_EVENTS, DEADLETTER])
    sent = requests()
    await publish(bus, *sent.values())
    await bus.publish([Outgoing(POLICY_COMMANDS, b"job:bytes", b"\x00 not avro")])
    worker = make_policy_worker()
    async with running(bus, [worker]):
        await drain(bus, [worker])
        by_cause = await decided_by_cause(bus, len(sent))
    decided = {case: by_cause[command.meta.event_id] for case, command in sent.items()}
    assert len(by_cause) == len(sent)

    for case, event in decided.items():
        command = sent[case]
        assert event.meta.subject == command.meta.subject
        assert event.meta.correlation_id == command.meta.correlation_id
        assert event.meta.actor == "alice"
        assert event.meta.producer == "policy"
        assert (event.stage, event.subject_id, event.decided_by) == (
            command.stage,
            command.subject_id,
            DECIDED_BY,
        )
        assert event.allowed is (case == "clean"), case
        assert all(r.code is RefusalCode.POLICY for r in event.refusals)

    assert decided["clean"].policy_version == "2026.12.1"
    assert decided["clean"].refusals == decided["clean"].matched == []
    mixed = decided["mixed"]
    assert [(m.rule_id, m.reason.split()[1]) for m in mixed.matched] == [
        ("dataset-pii-unapproved", "users"),
        ("dataset-licence-forbids-training", "books"),
        ("dataset-provenance-unreviewed", "books's"),
    ]
    assert [r.field for r in mixed.refusals] == ["datasetRefs"] * 3
    assert "could not be evaluated (KeyError: 'x')" in decided["ghost"].refusals[0].message
    assert "not valid JSON" in decided["garbage"].refusals[0].message
    assert decided["runtime"].policy_version == NO_POLICY
    assert "no policy is loaded for stage runtime" in decided["runtime"].refusals[0].message

    # The undecodable record went to the dead letters; the worker went on.
    dead: list[Message] = await collect(bus, DEADLETTER, until=lambda ms: len(ms) >= 1)
    assert len(dead) == 1


async def test_a_redelivered_request_is_decided_the_same_way(tmp_path: Path) -> None:
    async with embedded_log(tmp_path) as bus:
        command = requests()["mixed"]
        await publish(bus, command, command)
        worker = make_policy_worker()
        async with running(bus, [worker]):
            await drain(bus, [worker])
        first, second = await collect(bus, POLICY_EVENTS)
    assert isinstance(first, PolicyDecided)
    assert isinstance(second, PolicyDecided)
    assert first.model_dump(exclude={"meta"}) == second.model_dump(exclude={"meta"})
    assert first.meta.causation_id == second.meta.causation_id == command.meta.event_id
