"""The audit trail end to end, on both logs: the audit worker covers every record
(garbage included), and the trail verifies live, as an export file, and through
inclusion and consistency proofs checked with the public key alone."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from covenant.audit.export import export, verify_file
from covenant.audit.proofs import verify_consistency_proof, verify_inclusion_proof
from covenant.audit.records import AuditError
from covenant.audit.trail import load_trail
from covenant.audit.verify import verify_live
from covenant.audit.worker import AuditOptions, run_audit_worker
from covenant.bus import Bus, Outgoing, Position
from covenant.cli.audit import audit_app
from covenant.events.audit import CheckpointSigned, LeavesAppended
from covenant.events.catalog import MESSAGE_TYPES
from covenant.events.codec import Codec
from covenant.events.registry import RegisterModel
from covenant.signing import LocalKeySigner
from covenant.testing import builders
from covenant.topics import ALL_TOPICS, DATASET_COMMANDS, DEADLETTER, MODEL_COMMANDS

CODEC = Codec((*MESSAGE_TYPES, LeavesAppended, CheckpointSigned))
OPTIONS = AuditOptions(checkpoint_every=15, checkpoint_interval_s=0.3, batch_size=20)


def command(i: int) -> RegisterModel:
    return builders.register_model(f"fam-{i % 4}:1.{i}.0", actor="tester")


def mixed(start: int, n: int) -> tuple[list[Outgoing], list[RegisterModel]]:
    """``n`` commands with garbage of every shape between them, on three topics."""
    commands = [command(i) for i in range(start, start + n)]
    records = []
    for i, c in enumerate(commands):
        records.append(Outgoing(MODEL_COMMANDS, c.meta.subject.encode(), CODEC.encode(c)))
        if i % 7 == 0:
            records.append(Outgoing(DATASET_COMMANDS, b"junk", os.urandom(i % 40)))
        if i % 11 == 0:
            records.append(Outgoing(DEADLETTER, b"x", b"\xc3\x01" + os.urandom(20)))
    return records, commands


async def covered(
    bus: Bus, size: int, worker: asyncio.Task[None], *, timeout_s: float = 60.0
) -> None:
    """Wait until a signed checkpoint covers ``size`` leaves (failing fast if the
    worker died)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        if worker.done():
            worker.result()
            raise AssertionError("the audit worker stopped")
        trail = await load_trail(bus, CODEC)
        if trail.latest is not None and trail.latest.tree_size >= size:
            assert trail.latest.tree_size == size, "leaves beyond what was published"
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"no checkpoint covers {size} leaves within {timeout_s} s")


async def test_the_trail_covers_every_record_and_verifies_every_way(
    bus: Bus, tmp_path: Path
) -> None:
    await bus.ensure_topics(ALL_TOPICS)
    signer = LocalKeySigner.generate(tmp_path / "audit.pem")
    key = signer.public_key_pem()
    first, commands = mixed(0, 40)
    positions: list[Position] = await bus.publish(first)

    stop = asyncio.Event()
    worker = asyncio.create_task(
        run_audit_worker(bus=bus, codec=CODEC, signer=signer, stop=stop, options=OPTIONS)
    )
    try:
        await covered(bus, len(first), worker)
        second, more = mixed(40, 25)
        positions += await bus.publish(second)
        commands += more
        await covered(bus, len(positions), worker)
    finally:
        stop.set()
        await worker

    live = await verify_live(bus, public_key_pem=key, codec=CODEC)
    assert live.ok, live.discrepancy
    assert live.records == live.tree_size == len(positions)
    assert live.pending == 0
    assert live.checkpoints >= 2

    trail = await load_trail(bus, CODEC)
    assert sorted((leaf.topic, leaf.partition, leaf.offset) for leaf in trail.leaves) == sorted(
        (p.topic, p.partition, p.offset) for p in positions
    )

    path = tmp_path / "trail.avro"
    summary = await export(bus, CODEC, path)
    assert summary.tree_size == len(positions)
    result = verify_file(path, key)
    assert result.ok, result.discrepancy
    assert result.records == len(positions)
    assert result.checkpoints == live.checkpoints

    chosen = commands[17]
    proof = json.dumps(trail.prove_inclusion(chosen.meta.event_id).to_json())
    verified = verify_inclusion_proof(proof, key, value=CODEC.encode(chosen))
    assert verified.leaf.event_id == chosen.meta.event_id
    assert verified.checkpoint.tree_size == len(positions)

    sizes = sorted(trail.checkpoints)
    consistency = json.dumps(trail.prove_consistency(sizes[0], sizes[-1]).to_json())
    assert verify_consistency_proof(consistency, key).old.tree_size == sizes[0]
    stranger = LocalKeySigner.generate(tmp_path / "other.pem")
    with pytest.raises(AuditError, match="not the trusted audit key"):
        verify_inclusion_proof(proof, stranger.public_key_pem())

    # Records published after the worker stopped are pending, not a failure.
    late, _ = mixed(100, 3)
    await bus.publish(late)
    pending = await verify_live(bus, public_key_pem=key, codec=CODEC)
    assert pending.ok
    assert (pending.pending, pending.records) == (len(late), len(positions))


def test_the_cli_verifies_exports_and_proves(tmp_path: Path) -> None:
    """The commands a person runs, on the embedded log, through the real typer app."""
    env = {"COVENANT_HOME": str(tmp_path / "home"), "COVENANT_BUS": ""}
    url = f"sqlite:///{tmp_path / 'log.sqlite3'}"
    runner = CliRunner()
    pem = runner.invoke(audit_app, ["public-key"], env=env)
    assert pem.exit_code == 0, pem.output
    assert "BEGIN PUBLIC KEY" in pem.output
    (tmp_path / "audit.pub").write_text(pem.output)

    async def fill() -> tuple[str, list[int]]:
        from covenant.audit.worker import audit_signer
        from covenant.bus import open_bus
        from covenant.events.contract import default_codec
        from covenant.settings import Settings

        codec = default_codec()
        signer = audit_signer(Settings.from_env(env))
        async with open_bus(url) as bus:
            await bus.ensure_topics(ALL_TOPICS)
            records, commands = mixed(0, 12)
            stop = asyncio.Event()
            task = asyncio.create_task(
                run_audit_worker(bus=bus, codec=codec, signer=signer, stop=stop, options=OPTIONS)
            )
            total = 0
            for part in (records[:8], records[8:]):
                total += len(await bus.publish(part))
                await covered(bus, total, task)
            stop.set()
            await task
            sizes = sorted((await load_trail(bus, codec)).checkpoints)
        return commands[3].meta.event_id, sizes

    event_id, sizes = asyncio.run(fill())
    key = ["--public-key", str(tmp_path / "audit.pub")]
    live = runner.invoke(audit_app, ["verify", "--bus", url, "--json", *key], env=env)
    assert live.exit_code == 0, live.output
    assert json.loads(live.stdout)["ok"] is True
    export_file = tmp_path / "x.avro"
    done = runner.invoke(audit_app, ["export", "--out", str(export_file), "--bus", url], env=env)
    assert done.exit_code == 0, done.output
    ok = runner.invoke(audit_app, ["verify", "--file", str(export_file), *key], env=env)
    assert ok.exit_code == 0, ok.output
    assert "verified" in ok.output
    proof = tmp_path / "proof.json"
    made = runner.invoke(audit_app, ["prove", event_id, "--out", str(proof), "--bus", url], env=env)
    assert made.exit_code == 0, made.output
    checked = runner.invoke(audit_app, ["verify-proof", str(proof), *key], env=env)
    assert checked.exit_code == 0, checked.output
    assert "proof verified" in checked.output
    old, new = str(sizes[0]), str(sizes[-1])
    both = runner.invoke(audit_app, ["prove", "--consistency", old, new, "--bus", url], env=env)
    assert both.exit_code == 0, both.output
    (tmp_path / "c.json").write_text(both.stdout)
    again = runner.invoke(audit_app, ["verify-proof", str(tmp_path / "c.json"), *key], env=env)
    assert again.exit_code == 0, again.output

    data = bytearray(export_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    export_file.write_bytes(bytes(data))
    bad = runner.invoke(audit_app, ["verify", "--file", str(export_file), "--json", *key], env=env)
    assert bad.exit_code == 1
    assert json.loads(bad.stdout)["ok"] is False
