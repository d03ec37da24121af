"""The ReadStore contract, run against the embedded SQLite store and a real PostgreSQL
server (started as a local process for the session, one fresh database per test)."""

from __future__ import annotations

import asyncio
import math
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from covenant.bus.protocol import TopicPartition
from covenant.errors import ConfigError
from covenant.events.artifacts import ArtifactStored
from covenant.events.base import Message
from covenant.events.datasets import DatasetCleared, DatasetRegistered, TrainingClearance
from covenant.events.registry import ModelRegistered, ModelStatus
from covenant.store import EdgeKind, LineageEdge, ReadStore, StoreError, open_store
from covenant.testing import FrozenClock, builders
from covenant.testing.builders import sha
from covenant.testing.postgres import LocalPostgres

T0 = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
CLOCK = FrozenClock(T0)
Positioned = tuple[TopicPartition, int, Message]


def dataset(
    dataset_id: str, *, steps: Sequence[str] = (), sources: Sequence[str] = (), pii: bool = False
) -> DatasetRegistered:
    return builders.dataset_registered(
        dataset_id,
        source_refs=sources,
        transformations=[builders.transformation(s) for s in steps],
        pii=pii,
        actor="alice",
        clock=CLOCK,
    )


def artifact(name: str, *, size: int = 1234) -> ArtifactStored:
    return builders.artifact_stored(
        name,
        size_bytes=size,
        git_commit="0123abcd",
        run_config={"seed": "7", "lr": "0.001"},
        actor="bob",
        clock=CLOCK,
    )


def model(
    family: str,
    version: str,
    *,
    datasets: Sequence[str] = (),
    parents: Sequence[str] = (),
    metrics: dict[str, float] | None = None,
    signed: bool = False,
) -> ModelRegistered:
    return builders.model_registered(
        f"{family}:{version}",
        datasets=datasets,
        parents=parents,
        metrics={"accuracy": 0.91} if metrics is None else metrics,
        created_at=T0 + timedelta(minutes=int(version.split(".")[-1] or 0)),
        signer_id="key-1" if signed else None,
        signature=b"\x00\x01sig" if signed else None,
        provenance={"pipeline": "train-v2"},
        actor="carol",
        clock=CLOCK,
    )


def rejections() -> list[Message]:
    return [
        builders.dataset_rejected("bad", reasons=["x"], actor="alice", clock=CLOCK),
        builders.artifact_rejected("bad.bin", reason="digest mismatch", actor="bob", clock=CLOCK),
        builders.model_rejected("Bad:x", reasons=["family", "version"], actor="carol", clock=CLOCK),
    ]


def positioned(messages: Sequence[Message], *, partitions: int = 1) -> list[Positioned]:
    """Give each message a position on its own topic, round-robin over partitions."""
    nexts: dict[TopicPartition, int] = defaultdict(int)
    out = []
    for i, message in enumerate(messages):
        tp = (message.TOPIC.name, i % partitions)
        out.append((tp, nexts[tp], message))
        nexts[tp] += 1
    return out


def lineage_graph() -> list[Message]:
    """Two datasets with transformations → model a:1.0.0 → child b:1.0.1."""
    return [
        dataset("d1", steps=["clean", "dedupe"], sources=["s3://raw/d1"]),
        dataset("d2", steps=["tokenize"], sources=["s3://raw/d2", "hf://corpus"]),
        dataset("d3"),
        artifact("weights a:1.0.0"),
        artifact("d1"),
        model("a", "1.0.0", datasets=["d1", "d2"]),
        model("b", "1.0.1", parents=["a:1.0.0"]),
        model("c", "1.0.2", datasets=["d3"]),
    ]


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], str]:
    """Makes URLs of fresh, empty stores of one kind (several per test when needed)."""

    def make() -> str:
        name = f"t{uuid.uuid4().hex[:12]}"
        if request.param == "sqlite":
            return f"sqlite:///{tmp_path / name}.sqlite3"
        server: LocalPostgres = request.getfixturevalue("local_postgres")
        return server.create_database(name)

    return make


@pytest.fixture
async def store(fresh_url: Callable[[], str]) -> AsyncIterator[ReadStore]:
    async with open_store(fresh_url()) as opened:
        yield opened


async def test_open_is_idempotent_and_closing_twice_is_harmless(
    fresh_url: Callable[[], str],
) -> None:
    url = fresh_url()
    opened = open_store(url)
    async with opened as store:
        await store.apply(projection="p", events=positioned([dataset("d1")]))
        async with store:  # entering an open store again is harmless
            assert await store.get_dataset(dataset_id="d1") is not None
    await opened.__aexit__(None, None, None)
    async with open_store(url) as again:  # the schema exists now: opening keeps the rows
        assert await again.get_dataset(dataset_id="d1") is not None
        assert await again.offsets(projection="p") == {("covenant.evt.dataset", 0): 1}


async def test_dataset_registered_is_projected_with_its_lineage(store: ReadStore) -> None:
    event = dataset("d1", steps=["clean", "dedupe"], sources=["s3://raw/d1"], pii=True)
    assert await store.apply(projection="p", events=positioned([event])) == 1
    got = await store.get_dataset(dataset_id="d1")
    assert got is not None
    assert got.checksum == sha("d1")
    assert got.source_refs == ("s3://raw/d1",)
    assert [t.name for t in got.transformations] == ["clean", "dedupe"]
    assert got.transformations[0].code_ref == "git@example.com:etl.git#clean"
    assert got.pii_flags == ("email",)
    assert got.clearance is TrainingClearance.BLOCKED
    assert got.block_reasons == ("flagged for PII (email); needs approval",)
    assert (got.created_at, got.created_by, got.license) == (T0, "alice", "CC-BY-4.0")
    assert got.event_id == event.meta.event_id
    assert await store.get_dataset(dataset_id="nope") is None


def cleared(dataset_id: str, who: str) -> DatasetCleared:
    return builders.dataset_cleared(dataset_id, reason="PII reviewed", actor=who, clock=CLOCK)


@pytest.mark.parametrize("order", ["registered-first", "cleared-first"])
async def test_a_cleared_dataset_may_train_in_any_order(store: ReadStore, order: str) -> None:
    registered, approval = dataset("d1", pii=True), cleared("d1", "dana")
    events = [registered, approval] if order == "registered-first" else [approval, registered]
    for i, event in enumerate(events):  # two partitions: no order between them
        await store.apply(projection="p", events=[((event.TOPIC.name, i), 0, event)])
    got = await store.get_dataset(dataset_id="d1")
    assert got is not None
    assert got.clearance is TrainingClearance.ALLOWED
    assert got.block_reasons == ("flagged for PII (email); needs approval",)
    assert [(a.approved_by, a.reason, a.event_id) for a in got.approvals] == [
        ("dana", "PII reviewed", approval.meta.event_id)
    ]
    assert got.approvals[0].cleared_at == approval.meta.occurred_at


async def test_artifact_stored_is_projected(store: ReadStore) -> None:
    event = artifact("weights.bin")
    await store.apply(projection="p", events=positioned([event]))
    got = await store.get_artifact(artifact_id=sha("weights.bin"))
    assert got is not None
    assert (got.name, got.media_type, got.size_bytes) == (
        "weights.bin",
        "application/octet-stream",
        1234,
    )
    assert (got.blob_uri, got.git_commit) == ("file:///blobs/weights.bin", "0123abcd")
    assert dict(got.run_config) == {"seed": "7", "lr": "0.001"}
    assert got.stored_at == event.meta.occurred_at
    assert await store.get_artifact(artifact_id="sha256:none") is None


async def test_model_registered_is_projected_with_history_and_edges(store: ReadStore) -> None:
    event = model("fam", "1.2.3", datasets=["d1"], parents=["fam:1.2.2"], signed=True)
    await store.apply(projection="p", events=positioned([event]))
    got = await store.get_model(model_id="fam:1.2.3")
    assert got is not None
    assert (got.family, got.version, got.status) == ("fam", "1.2.3", ModelStatus.DRAFT)
    assert got.code_ref == "git@example.com:fam.git#1.2.3"
    assert got.artifact_id == sha("weights fam:1.2.3")
    assert dict(got.metrics) == {"accuracy": 0.91}
    assert (got.signer_id, got.signature) == ("key-1", b"\x00\x01sig")
    assert (got.dataset_refs, got.parent_models) == (("d1",), ("fam:1.2.2",))
    assert dict(got.provenance) == {"pipeline": "train-v2"}
    assert [(h.status, h.actor, h.event_id) for h in got.history] == [
        (ModelStatus.DRAFT, "carol", event.meta.event_id)
    ]
    assert got.history[0].changed_at == event.meta.occurred_at
    edges = {(e["kind"], e["source"]) for e in (await store.dump())["lineage_edges"]}
    assert edges == {
        ("dataset", "d1"),
        ("model", "fam:1.2.2"),
        ("artifact", sha("weights fam:1.2.3")),
        ("code", "git@example.com:fam.git#1.2.3"),
    }
    assert await store.get_model(model_id="fam:9.9.9") is None


async def test_rejections_are_recorded_and_register_nothing(store: ReadStore) -> None:
    events = rejections()
    assert await store.apply(projection="p", events=positioned(events)) == 3
    dump = await store.dump()
    assert {(r["type"], r["entity"]) for r in dump["rejections"]} == {
        ("dataset.rejected", "bad"),
        ("artifact.rejected", "bad.bin"),
        ("model.rejected", "Bad:x"),
    }
    assert {tuple(r["reasons"]) for r in dump["rejections"]} == {  # type: ignore[arg-type]
        ("x",),
        ("digest mismatch",),
        ("family", "version"),
    }
    assert dump["datasets"] == dump["artifacts"] == dump["models"] == []


async def test_unknown_types_advance_offsets_but_are_not_projected(store: ReadStore) -> None:
    command = builders.register_model("x:1.0.0", clock=CLOCK)
    events = positioned([command, model("m", "1.0.0")])
    assert events[0][0] != events[1][0]  # a command and an event: two topics
    assert await store.apply(projection="p", events=events) == 1
    assert await store.offsets(projection="p") == {events[0][0]: 1, events[1][0]: 1}


async def test_offsets_are_per_projection_and_partition(store: ReadStore) -> None:
    events = positioned([model("m", f"1.0.{i}") for i in range(7)], partitions=3)
    await store.apply(projection="p", events=events)
    topic = events[0][0][0]
    assert await store.offsets(projection="p") == {(topic, 0): 3, (topic, 1): 2, (topic, 2): 2}
    assert await store.offsets(projection="other") == {}


async def test_a_redelivered_batch_is_not_applied_twice(store: ReadStore) -> None:
    events = positioned(lineage_graph() + rejections(), partitions=2)
    assert await store.apply(projection="p", events=events) == len(events)
    first = await store.dump()
    assert await store.apply(projection="p", events=events) == 0
    assert await store.apply(projection="p", events=events[3:]) == 0
    assert await store.dump() == first
    # The same events under another projection name are that projection's news.
    assert await store.apply(projection="q", events=events) == len(events)


async def test_an_overlapping_batch_applies_only_what_is_new(store: ReadStore) -> None:
    events = positioned([model("m", f"1.0.{i}") for i in range(10)])
    assert await store.apply(projection="p", events=events[:6]) == 6
    assert await store.apply(projection="p", events=events[4:]) == 4
    assert len(await store.list_models()) == 10
    counts = (await store.dump())["projection_offsets"]
    assert [(r["next_offset"], r["applied"]) for r in counts] == [(10, 10)]


@pytest.mark.parametrize(
    "poison",
    [
        pytest.param(lambda: model("m", "9.9.9", metrics={"loss": math.nan}), id="nan-metric"),
        pytest.param(lambda: artifact("neg", size=-1), id="negative-size"),
    ],
)
async def test_a_failed_apply_stores_neither_rows_nor_offsets(
    store: ReadStore, poison: Callable[[], Message]
) -> None:
    empty = await store.dump()
    events = positioned([*lineage_graph(), poison(), model("z", "1.0.0")], partitions=2)
    with pytest.raises(StoreError) as raised:
        await store.apply(projection="p", events=events)
    assert raised.value.retriable is False
    assert await store.dump() == empty
    assert await store.offsets(projection="p") == {}
    # The store is still usable, and the events around the poison apply.
    healthy = [e for e in events if e[2].meta.event_id != events[-2][2].meta.event_id]
    assert await store.apply(projection="p", events=healthy) == len(healthy)


async def test_skip_records_the_position_and_moves_past_it(store: ReadStore) -> None:
    tp = ("covenant.evt.model", 1)
    assert await store.skip(projection="p", topic_partition=tp, offset=4, reason="garbage")
    assert not await store.skip(projection="p", topic_partition=tp, offset=4, reason="again")
    assert await store.offsets(projection="p") == {tp: 5}
    (row,) = (await store.dump())["projection_skips"]
    assert (row["record_offset"], row["reason"], row["event_id"]) == (4, "garbage", None)
    late = [(tp, 3, model("m", "1.0.0")), (tp, 5, model("m", "1.0.1"))]
    assert await store.apply(projection="p", events=late) == 1


@pytest.mark.parametrize("order", ["earliest-first", "latest-first"])
async def test_the_earliest_registration_wins_in_any_order(
    fresh_url: Callable[[], str], order: str
) -> None:
    first = model("dup", "1.0.0", datasets=["d1"])
    second = model("dup", "1.0.0", datasets=["d2"], metrics={"accuracy": 0.5})
    first_ds, second_ds = dataset("d", steps=["a"]), dataset("d", steps=["b", "c"])
    events = [first, second, first_ds, second_ds]
    if order == "latest-first":
        events = [second, first, second_ds, first_ds]
    async with open_store(fresh_url()) as store:
        for i, event in enumerate(events):  # one partition each: any interleaving
            await store.apply(projection="p", events=[((event.TOPIC.name, i), 0, event)])
        got = await store.get_model(model_id="dup:1.0.0")
        assert got is not None
        assert got.event_id == first.meta.event_id
        assert got.dataset_refs == ("d1",)
        assert [h.event_id for h in got.history] == [first.meta.event_id]
        edges = (await store.upstream(model_id="dup:1.0.0")).edges  # type: ignore[union-attr]
        assert LineageEdge("dup:1.0.0", EdgeKind.DATASET, "d2") not in edges
        kept = await store.get_dataset(dataset_id="d")
        assert kept is not None
        assert [t.name for t in kept.transformations] == ["a"]


async def test_upstream_walks_parents_datasets_code_and_artifacts(store: ReadStore) -> None:
    await store.apply(projection="p", events=positioned(lineage_graph(), partitions=3))
    up = await store.upstream(model_id="b:1.0.1")
    assert up is not None
    assert [m.model_id for m in up.models] == ["a:1.0.0"]
    assert [d.dataset_id for d in up.datasets] == ["d1", "d2"]
    assert up.datasets[1].source_refs == ("s3://raw/d2", "hf://corpus")
    assert [t.name for t in up.datasets[0].transformations] == ["clean", "dedupe"]
    assert set(up.code_refs) == {
        "git@example.com:a.git#1.0.0",
        "git@example.com:b.git#1.0.1",
        "git@example.com:etl.git#clean",
        "git@example.com:etl.git#dedupe",
        "git@example.com:etl.git#tokenize",
    }
    assert {a.artifact_id for a in up.artifacts} == {sha("weights a:1.0.0"), sha("d1")}
    assert LineageEdge("b:1.0.1", EdgeKind.MODEL, "a:1.0.0") in up.edges
    # b's own artifact was never stored: the edge stays, the artifact list does not lie.
    assert LineageEdge("b:1.0.1", EdgeKind.ARTIFACT, sha("weights b:1.0.1")) in up.edges
    root = await store.upstream(model_id="a:1.0.0")
    assert root is not None
    assert root.models == ()
    assert await store.upstream(model_id="nope:1.0.0") is None


async def test_downstream_finds_models_and_their_children(store: ReadStore) -> None:
    await store.apply(projection="p", events=positioned(lineage_graph(), partitions=3))
    down = await store.downstream(dataset_id="d1")
    assert [m.model_id for m in down.models] == ["a:1.0.0", "b:1.0.1"]
    assert set(down.edges) == {
        LineageEdge("a:1.0.0", EdgeKind.DATASET, "d1"),
        LineageEdge("b:1.0.1", EdgeKind.MODEL, "a:1.0.0"),
    }
    assert [m.model_id for m in (await store.downstream(dataset_id="d3")).models] == ["c:1.0.2"]
    assert (await store.downstream(dataset_id="unknown")).models == ()


async def test_lineage_cycles_terminate(store: ReadStore) -> None:
    loop = [model("x", "1.0.0", parents=["y:1.0.1"]), model("y", "1.0.1", parents=["x:1.0.0"])]
    await store.apply(projection="p", events=positioned(loop))
    up = await store.upstream(model_id="x:1.0.0")
    assert up is not None
    assert [m.model_id for m in up.models] == ["y:1.0.1"]


async def test_list_models_by_family(store: ReadStore) -> None:
    events = [model("b", "1.0.2"), model("a", "1.0.1"), model("a", "1.0.0"), model("c", "2.0.3")]
    await store.apply(projection="p", events=positioned(events, partitions=2))
    assert [m.model_id for m in await store.list_models()] == [
        "a:1.0.0",
        "a:1.0.1",
        "b:1.0.2",
        "c:2.0.3",
    ]
    assert [m.model_id for m in await store.list_models(family="a")] == ["a:1.0.0", "a:1.0.1"]
    assert await store.list_models(family="none") == []


async def test_dump_is_deterministic_whatever_the_batching(fresh_url: Callable[[], str]) -> None:
    events = positioned(lineage_graph() + rejections(), partitions=3)
    # Per-partition order is all the log promises: replay the partitions one after
    # the other, last partition first, one event per batch.
    by_partition = sorted(events, key=lambda e: (-e[0][1], e[0][0], e[1]))
    dumps = []
    for batches in ([events], [[e] for e in by_partition]):
        async with open_store(fresh_url()) as store:
            for batch in batches:
                await store.apply(projection="p", events=batch)
            dumps.append(await store.dump())
            assert await store.dump() == dumps[-1]
    assert dumps[0] == dumps[1]
    assert [len(rows) for rows in dumps[0].values()] == [3, 3, 0, 2, 3, 3, 0, 10, 3, 8, 0]


async def test_reset_drops_every_row_and_offset(store: ReadStore) -> None:
    empty = await store.dump()
    await store.apply(projection="p", events=positioned(lineage_graph()))
    assert await store.dump() != empty
    await store.reset()
    assert await store.dump() == empty
    assert await store.apply(projection="p", events=positioned(lineage_graph())) == 8


async def test_concurrent_writers_apply_a_batch_once(fresh_url: Callable[[], str]) -> None:
    url = fresh_url()
    events = positioned([model("m", f"1.0.{i}") for i in range(50)], partitions=3)
    async with open_store(url) as one, open_store(url) as two:
        results = await asyncio.gather(
            *(store.apply(projection="p", events=events) for store in (one, two, one, two))
        )
        assert sorted(results) == [0, 0, 0, 50]
        assert (await one.dump()) == (await two.dump())


async def test_sqlite_and_postgresql_dump_the_same_rows(
    tmp_path: Path, local_postgres: LocalPostgres
) -> None:
    events = positioned(
        [*lineage_graph(), *rejections(), model("s", "1.0.9", signed=True)], partitions=2
    )
    dumps = []
    for url in (
        f"sqlite:///{tmp_path / 'read.sqlite3'}",
        local_postgres.create_database(f"t{uuid.uuid4().hex[:12]}"),
    ):
        async with open_store(url) as store:
            await store.apply(projection="p", events=events)
            await store.skip(projection="p", topic_partition=("x", 0), offset=0, reason="r")
            dumps.append(await store.dump())
    assert dumps[0] == dumps[1]


@pytest.mark.parametrize("url", ["mysql://x", "sqlite://", "kafka://host:9092"])
def test_open_store_refuses_unknown_urls(url: str) -> None:
    with pytest.raises(ConfigError):
        open_store(url)


async def test_a_missing_postgresql_database_is_not_retriable(
    local_postgres: LocalPostgres,
) -> None:
    store = open_store(local_postgres.dsn_for("no_such_database"))
    with pytest.raises(StoreError) as raised:
        await store.__aenter__()
    assert raised.value.retriable is False
    await store.__aexit__(None, None, None)  # closing a store that never opened is harmless
