"""Verifying exported audit trails: the honest case, and each kind of tampering found
and pinpointed. The log is built in memory by the audit worker's own decision
(``audit_batch``), exported with the exporter's writer, and verified from the file with
nothing but the public key. Every case runs through both verifiers (the fast scanner
and the exact one), which must agree."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import os
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import fastavro
import pytest

from covenant.audit.export import verify_file, write_export
from covenant.audit.merkle import MerkleTree, leaf_hash
from covenant.audit.proofs import (
    parse_proof,
    verify_consistency_proof,
    verify_inclusion_proof,
)
from covenant.audit.records import (
    AuditError,
    Checkpoint,
    decode_audit,
    digest_of,
    leaf_bytes,
)
from covenant.audit.results import VerifyResult
from covenant.audit.scan import scan_file
from covenant.audit.state import CheckpointPolicy
from covenant.audit.synthetic import SyntheticLog, build_log
from covenant.audit.trail import AuditTrail
from covenant.audit.verify import verify_records
from covenant.bus.protocol import Record
from covenant.events.audit import CheckpointSigned, Leaf, checkpoint_message
from covenant.events.avro import avro_schema
from covenant.events.base import utc_now
from covenant.events.contract import default_codec
from covenant.signing import LocalKeySigner
from covenant.testing import builders
from covenant.topics import AUDIT, DATASET_COMMANDS, DEADLETTER, MODEL_COMMANDS

RECORDS = 600
CODEC = default_codec()


def _command(i: int) -> bytes:
    return CODEC.encode(builders.register_model(f"fam-{i % 5}:1.{i}.0", actor="tester"))


@dataclasses.dataclass
class World:
    signer: LocalKeySigner
    stranger: LocalKeySigner
    log: SyntheticLog
    folder: Path

    @property
    def public_key(self) -> bytes:
        return self.signer.public_key_pem()

    def write(self, records: list[Record], name: str = "export.avro") -> Path:
        path = self.folder / name
        write_export(path, records, checkpoint=self.log.last_checkpoint, count=len(records))
        return path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    folder = tmp_path_factory.mktemp("audit")
    signer = LocalKeySigner.generate(folder / "audit.pem")
    stranger = LocalKeySigner.generate(folder / "stranger.pem")
    rng = random.Random(3)
    entries = []
    for i in range(RECORDS):
        if i in (7, 333):  # garbage is audited too: just bytes to hash
            entries.append((DATASET_COMMANDS, b"junk-%d" % i, rng.randbytes(rng.randint(0, 90))))
        elif i in (11, 555):  # garbage that starts like a Covenant record
            entries.append((DEADLETTER, b"x", b"\xc3\x01" + rng.randbytes(60)))
        else:
            entries.append((MODEL_COMMANDS, f"model:fam-{i % 5}".encode(), _command(i)))
    log = asyncio.run(
        build_log(
            entries,
            codec=CODEC,
            signer=signer,
            batch_size=50,
            policy=CheckpointPolicy(every=100, interval_s=float("inf")),
        )
    )
    return World(signer, stranger, log, folder)


def both(path: Path, key: bytes) -> VerifyResult:
    """Verify with the fast scanner and the exact verifier; they must agree."""
    fast = verify_file(path, key)
    exact = verify_file(path, key, fast=False)
    assert fast == exact
    return exact


def log_positions(records: list[Record]) -> Iterator[int]:
    """Indexes of the audited (non-audit) records in the list."""
    return (i for i, r in enumerate(records) if r.topic != AUDIT.name)


def at(records: list[Record], n: int) -> int:
    """Index of the n-th audited record."""
    return list(log_positions(records))[n]


def replace_value(rec: Record, value: bytes) -> Record:
    return dataclasses.replace(rec, value=value)


def reencode(rec: Record, change: Callable[[Any], Any]) -> Record:
    message = CODEC.decode(rec.value)
    return replace_value(rec, CODEC.encode(change(message)))


def checkpoint_index(records: list[Record], nth: int) -> int:
    found = [
        i
        for i, r in enumerate(records)
        if r.topic == AUDIT.name and isinstance(decode_audit(CODEC, r.value), Checkpoint)
    ]
    return found[nth]


def test_an_honest_export_verifies_with_correct_counts(world: World) -> None:
    result = both(world.write(world.log.records), world.public_key)
    assert result.ok, result.discrepancy
    assert result.records == RECORDS
    assert result.checkpoints == len(world.log.checkpoints) == 6  # every 100
    assert result.pending == 0
    assert result.tree_size == RECORDS
    assert result.root_hash == world.log.state.tree.root()


def test_the_pure_core_verifies_records_in_audit_order(world: World) -> None:
    records = world.log.records
    whole = verify_records(records, public_key_pem=world.public_key)
    assert (whole.ok, whole.records, whole.checkpoints) == (True, RECORDS, 6)
    # Without its last checkpoint a file fails, and a live log has those leaves pending.
    unsigned = records[:-1]
    assert not verify_records(unsigned, public_key_pem=world.public_key).ok
    live = verify_records(unsigned, public_key_pem=world.public_key, live=True)
    assert (live.ok, live.records, live.pending, live.tree_size) == (True, 500, 100, 500)


def test_one_flipped_byte_in_a_record_is_found_there(world: World) -> None:
    records = list(world.log.records)
    leaf, i = next(
        (n, j)
        for n, j in enumerate(log_positions(records))
        if n >= 250 and records[j].topic == MODEL_COMMANDS.name
    )
    value = bytearray(records[i].value)
    value[len(value) // 2] ^= 0x01
    records[i] = replace_value(records[i], bytes(value))
    result = both(world.write(records, "flipped.avro"), world.public_key)
    d = result.discrepancy
    assert d is not None
    assert (d.topic, d.partition, d.offset) == (
        records[i].topic,
        records[i].partition,
        records[i].offset,
    )
    assert d.leaf_index == leaf
    assert "altered" in d.reason
    assert d.event_id is not None  # a valid command: its leaf knows its event id


def test_a_removed_record_is_reported_missing(world: World) -> None:
    records = list(world.log.records)
    i = at(records, 123)
    removed = records.pop(i)
    d = both(world.write(records, "removed.avro"), world.public_key).discrepancy
    assert d is not None
    assert (d.topic, d.partition, d.offset) == (removed.topic, removed.partition, removed.offset)
    assert "missing" in d.reason


def test_two_records_swapped_in_history_are_found_at_the_first(world: World) -> None:
    """Two records of one partition trade places on the log (their bytes swap offsets)."""
    records = list(world.log.records)
    mine = [i for i in log_positions(records) if records[i].topic == MODEL_COMMANDS.name]
    first = mine[40]
    second = next(j for j in mine[41:] if records[j].partition == records[first].partition)
    a, b = records[first], records[second]
    records[first], records[second] = replace_value(a, b.value), replace_value(b, a.value)
    d = both(world.write(records, "swapped.avro"), world.public_key).discrepancy
    assert d is not None
    assert (d.topic, d.partition, d.offset) == (a.topic, a.partition, a.offset)


def test_two_records_swapped_in_the_file_are_found_at_the_first(world: World) -> None:
    records = list(world.log.records)
    i = at(records, 300)
    records[i], records[i + 1] = records[i + 1], records[i]
    d = both(world.write(records, "reordered.avro"), world.public_key).discrepancy
    assert d is not None
    assert (d.topic, d.partition, d.offset) == (
        records[i + 1].topic,
        records[i + 1].partition,
        records[i + 1].offset,
    )


def test_a_record_appended_without_a_checkpoint_is_found(world: World) -> None:
    records = list(world.log.records)
    last = records[at(records, RECORDS - 1)]
    extra = dataclasses.replace(last, offset=last.offset + 1, value=_command(10_000))
    records.append(extra)
    d = both(world.write(records, "appended.avro"), world.public_key).discrepancy
    assert d is not None
    assert (d.topic, d.partition, d.offset) == (extra.topic, extra.partition, extra.offset)
    assert "not named by any leaf" in d.reason


def test_leaves_appended_after_the_last_checkpoint_are_not_covered(world: World) -> None:
    """The appended record even comes with its leaf, as the worker would publish it,
    but no signed checkpoint covers it."""
    records = list(world.log.records)
    last = records[at(records, RECORDS - 1)]
    extra = dataclasses.replace(last, offset=last.offset + 1, value=_command(10_001))
    batch = builders.leaves_appended(
        [builders.leaf(extra.topic, extra.partition, extra.offset, digest=digest_of(extra.value))],
        first_leaf=RECORDS,
    )
    audit = Record(AUDIT.name, 0, records[-1].offset + 1, b"audit", CODEC.encode(batch), 0)
    records += [audit, extra]
    d = both(world.write(records, "unsigned.avro"), world.public_key).discrepancy
    assert d is not None
    assert (d.topic, d.partition, d.offset) == (extra.topic, extra.partition, extra.offset)
    assert "not covered by a signed checkpoint" in d.reason


def test_a_forged_checkpoint_signature_is_found_at_that_checkpoint(world: World) -> None:
    records = list(world.log.records)
    i = checkpoint_index(records, 3)
    forged = os.urandom(64)
    records[i] = reencode(records[i], lambda m: m.model_copy(update={"signature": forged}))
    d = both(world.write(records, "forged.avro"), world.public_key).discrepancy
    assert d is not None
    assert (d.topic, d.offset) == (AUDIT.name, records[i].offset)
    assert d.tree_size == 400
    assert "does not verify" in d.reason


def test_a_checkpoint_signed_by_an_unknown_key_is_found(world: World) -> None:
    records = list(world.log.records)
    i = checkpoint_index(records, 2)
    stranger = world.stranger

    def resign(m: CheckpointSigned) -> CheckpointSigned:
        text = checkpoint_message(
            tree_size=m.tree_size,
            root_hash=m.root_hash,
            signed_at=m.signed_at,
            key_id=stranger.key_id,
        )
        signature = asyncio.run(stranger.sign(text))
        return m.model_copy(update={"key_id": stranger.key_id, "signature": signature})

    records[i] = reencode(records[i], resign)
    d = both(world.write(records, "stranger.avro"), world.public_key).discrepancy
    assert d is not None
    assert (d.topic, d.offset, d.tree_size) == (AUDIT.name, records[i].offset, 300)
    assert stranger.key_id in d.reason
    assert world.signer.key_id in d.reason


def test_a_truncated_file_is_a_clear_failure(world: World) -> None:
    path = world.write(world.log.records, "whole.avro")
    data = path.read_bytes()
    for cut in (len(data) * 3 // 5, len(data) - 7, 200):
        cut_path = world.folder / f"cut-{cut}.avro"
        cut_path.write_bytes(data[:cut])
        result = both(cut_path, world.public_key)
        assert not result.ok
        assert result.discrepancy is not None
        assert "truncated" in result.discrepancy.reason


def test_a_file_cut_at_a_record_boundary_breaks_its_header_promise(world: World) -> None:
    records = world.log.records
    path = world.folder / "short.avro"
    write_export(
        path, records[: len(records) // 2], checkpoint=world.log.last_checkpoint, count=len(records)
    )
    d = both(path, world.public_key).discrepancy
    assert d is not None
    assert "truncated" in d.reason


def test_not_an_export(world: World) -> None:
    path = world.folder / "junk.avro"
    path.write_bytes(b"not avro at all")
    result = both(path, world.public_key)
    assert not result.ok
    assert result.discrepancy is not None
    assert "not an Avro" in result.discrepancy.reason


def test_a_leaf_twice_is_found_even_under_a_valid_signature(world: World) -> None:
    """A buggy (or bribed) worker signs a tree with one position in it twice."""
    rec = world.log.records[at(world.log.records, 0)]
    digest = digest_of(rec.value)
    leaf = Leaf(topic=rec.topic, partition=rec.partition, offset=rec.offset, digest=digest)
    batch = builders.leaves_appended([leaf, leaf], first_leaf=0)
    hashes = [leaf_hash(leaf_bytes(rec.topic, rec.partition, rec.offset, digest))] * 2
    root = MerkleTree.from_leaf_hashes(hashes).root()
    signed = asyncio.run(sign(world.signer, 2, root))
    records = [
        Record(AUDIT.name, 0, 0, b"audit", CODEC.encode(batch), 0),
        rec,
        rec,
        Record(AUDIT.name, 0, 1, b"audit", CODEC.encode(signed), 0),
    ]
    d = both(world.write(records, "twice.avro"), world.public_key).discrepancy
    assert d is not None
    assert (d.topic, d.partition, d.offset, d.leaf_index) == (
        rec.topic,
        rec.partition,
        rec.offset,
        1,
    )
    assert "twice" in d.reason


async def sign(signer: LocalKeySigner, size: int, root: bytes) -> CheckpointSigned:
    now = utc_now()
    text = checkpoint_message(tree_size=size, root_hash=root, signed_at=now, key_id=signer.key_id)
    return builders.checkpoint_signed(
        tree_size=size,
        root_hash=root,
        signed_at=now,
        key_id=signer.key_id,
        algorithm="ed25519",
        signature=await signer.sign(text),
    )


def test_garbage_on_the_audit_topic_is_a_failure(world: World) -> None:
    records = list(world.log.records)
    i = checkpoint_index(records, 1)
    records[i] = replace_value(records[i], b"\xc3\x01garbage")
    d = both(world.write(records, "audit-garbage.avro"), world.public_key).discrepancy
    assert d is not None
    assert (d.topic, d.offset) == (AUDIT.name, records[i].offset)


def test_random_corruption_never_passes(world: World) -> None:
    """Flip random bytes anywhere in the file: both verifiers agree, and never say OK
    unless the flip hit bytes the trail does not cover (keys, timestamps, padding)."""
    data = bytearray(world.write(world.log.records, "base.avro").read_bytes())
    rng = random.Random(11)
    header = 600  # keep the Avro header: a broken header is covered by test_not_an_export
    for n in range(12):
        corrupt = bytearray(data)
        corrupt[rng.randrange(header, len(data))] ^= 1 << rng.randrange(8)
        path = world.folder / f"random-{n}.avro"
        path.write_bytes(corrupt)
        both(path, world.public_key)


# --- proofs ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trail(world: World) -> AuditTrail:
    return AuditTrail.from_values(
        (r.value for r in world.log.records if r.topic == AUDIT.name), CODEC
    )


def test_inclusion_proof_roundtrips_through_json_and_verifies(
    world: World, trail: AuditTrail
) -> None:
    rec = world.log.records[at(world.log.records, 77)]
    event_id = CODEC.decode(rec.value).meta.event_id
    proof = trail.prove_inclusion(event_id)
    text = json.dumps(proof.to_json())
    assert parse_proof(text) == proof
    verified = verify_inclusion_proof(text, world.public_key, value=rec.value)
    assert verified.leaf.index == 77
    assert verified.checkpoint.tree_size == RECORDS  # proven against the latest
    with pytest.raises(AuditError, match="not the ones"):
        verify_inclusion_proof(text, world.public_key, value=rec.value + b"!")


def test_consistency_proof_roundtrips_and_verifies(world: World, trail: AuditTrail) -> None:
    proof = trail.prove_consistency(200, 500)
    text = json.dumps(proof.to_json())
    assert parse_proof(text) == proof
    assert verify_consistency_proof(text, world.public_key).new.tree_size == 500
    with pytest.raises(AuditError, match="no checkpoint at tree size 250"):
        trail.prove_consistency(250, 500)


def _tamper(document: dict[str, Any], path: list[Any], change: Callable[[Any], Any]) -> str:
    copy = json.loads(json.dumps(document))
    node = copy
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = change(node[path[-1]])
    return json.dumps(copy)


def _flip_hex(value: str) -> str:
    return ("0" if value[0] != "0" else "1") + value[1:]


@pytest.mark.parametrize(
    ("path", "change"),
    [
        (["auditPath", 0], _flip_hex),
        (["leaf", "digest"], _flip_hex),
        (["leaf", "index"], lambda i: i + 1),
        (["leaf", "offset"], lambda o: o + 1),
        (["checkpoint", "rootHash"], _flip_hex),
        (["checkpoint", "treeSize"], lambda s: s - 1),
        (["checkpoint", "signature"], _flip_hex),
        (["auditPath"], lambda p: p[:-1]),
    ],
)
def test_a_tampered_inclusion_proof_is_rejected(
    world: World, trail: AuditTrail, path: list[Any], change: Callable[[Any], Any]
) -> None:
    document = trail.prove_inclusion(
        CODEC.decode(world.log.records[at(world.log.records, 5)].value).meta.event_id
    ).to_json()
    with pytest.raises(AuditError):
        verify_inclusion_proof(_tamper(document, path, change), world.public_key)


@pytest.mark.parametrize(
    ("path", "change"),
    [
        (["proof", 0], _flip_hex),
        (["old", "rootHash"], _flip_hex),
        (["new", "treeSize"], lambda s: s + 1),
        (["new", "signature"], _flip_hex),
    ],
)
def test_a_tampered_consistency_proof_is_rejected(
    world: World, trail: AuditTrail, path: list[Any], change: Callable[[Any], Any]
) -> None:
    document = trail.prove_consistency(100, 600).to_json()
    with pytest.raises(AuditError):
        verify_consistency_proof(_tamper(document, path, change), world.public_key)


def test_a_proof_under_another_key_is_rejected(world: World, trail: AuditTrail) -> None:
    document = trail.prove_consistency(100, 600).to_json()
    with pytest.raises(AuditError, match="not the trusted audit key"):
        verify_consistency_proof(document, world.stranger.public_key_pem())


# --- the leaf encoding is the Avro encoding inside LeavesAppended --------------------


def test_leaf_bytes_are_the_avro_encoding_of_the_leaf_fields() -> None:
    schema = avro_schema(Leaf)
    rng = random.Random(5)
    for _ in range(200):
        leaf = Leaf(
            topic="covenant." + "x" * rng.randint(0, 80),
            partition=rng.randint(0, 2**20),
            offset=rng.choice([0, 1, 63, 64, 8191, 8192, rng.randint(0, 2**62)]),
            digest=rng.randbytes(32),
            event_id=None,
        )
        buf = io.BytesIO()
        fastavro.schemaless_writer(
            buf, fastavro.parse_schema(schema), leaf.model_dump(by_alias=True)
        )
        encoded = buf.getvalue()
        assert encoded == leaf_bytes(leaf.topic, leaf.partition, leaf.offset, leaf.digest) + b"\x00"


def test_a_deflate_export_verifies_too(world: World) -> None:
    path = world.folder / "deflate.avro"
    records = world.log.records
    write_export(
        path, records, checkpoint=world.log.last_checkpoint, count=len(records), codec="deflate"
    )
    assert both(path, world.public_key).records == RECORDS
    assert scan_file(path, world.public_key) is not None


def test_progress_counts_every_record_once_even_after_a_fallback(world: World) -> None:
    records = list(world.log.records)
    records.pop(at(records, 400))
    path = world.write(records, "progress.avro")
    seen: list[int] = []
    result = verify_file(path, world.public_key, progress=seen.append)
    assert not result.ok
    assert 0 < sum(seen) <= len(records)  # the exact pass stopped at the discrepancy


def test_the_fast_scanner_vouches_for_an_honest_export(world: World) -> None:
    """The honest file must not fall back to the exact verifier (that would hide a
    scanner that refuses everything behind the agreement checks above)."""
    result = scan_file(world.write(world.log.records, "fast.avro"), world.public_key)
    assert result is not None
    assert (result.ok, result.records) == (True, RECORDS)
