"""The ``covenant`` command as a user runs it, against the embedded log."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from openlineage_schema import assert_valid_openlineage


def covenant(*args: str, home: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "covenant", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={"COVENANT_HOME": str(home), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )


def test_demo_json_shows_commands_turned_into_events(tmp_path: Path) -> None:
    result = covenant("demo", "--json", "--home", str(tmp_path / "demo"), home=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    types = [entry["type"] for entry in summary["timeline"]]
    assert types.count("artifact.stored") == 3
    assert types.count("dataset.registered") == 2
    assert types.count("model.registered") == 1
    assert types.count("model.rejected") == 2  # bad SemVer, and the duplicate version
    assert types.count("record.dead_lettered") == 1
    # Every command got exactly one decision, linked by causation id.
    commands = [
        e["event_id"] for e in summary["timeline"] if e["type"].endswith(("register", "record"))
    ]
    causes = [e["caused_by"] for e in summary["timeline"] if e["caused_by"]]
    assert sorted(commands) == sorted(causes)
    blocked = [e for e in summary["timeline"] if "clearance=blocked" in e["summary"]]
    assert [e["subject"] for e in blocked] == ["dataset:support-chats:v3"]
    lineage = summary["lineage"]
    assert [d["dataset_id"] for d in lineage["datasets"]] == ["imagenet-mini:v1"]
    assert "git@example.com:ml/vit.git#9d1e2b7" in lineage["code_refs"]
    assert summary["replay_identical"] is True
    # Every record of the log is a leaf under a signed checkpoint that verifies.
    assert summary["audit_ok"] is True
    logged = [e for e in summary["timeline"] if e["topic"] != "covenant.audit"]
    assert summary["audit_records"] == len(logged) + 3  # + the OpenLineage runs
    assert summary["audit_checkpoints"] >= 1
    # The OpenLineage exporter put one run event per lineage fact on its topic.
    tail = covenant(
        "events",
        "tail",
        "--from-beginning",
        "--no-follow",
        "--json",
        "--topic",
        "covenant.lineage.openlineage",
        home=tmp_path / "demo",
    )
    runs = [json.loads(line)["record"] for line in tail.stdout.splitlines()]
    for run in runs:  # each one valid OpenLineage, by the official JSON schemas
        assert_valid_openlineage(run)
    assert sorted(r["job"]["name"] for r in runs) == [
        "prepare:imagenet-mini:v1",
        "prepare:support-chats:v3",
        "train:vision-transformer",
    ]


def test_publish_validates_then_tail_shows_it(tmp_path: Path) -> None:
    body = {
        "family": "vit",
        "version": "1.0.0",
        "codeRef": "git@x#abc",
        "artifactId": "sha256:" + "0" * 64,
    }
    published = covenant(
        "events",
        "publish",
        "model.register",
        "-",
        "--subject",
        "model:vit:1.0.0",
        "--json",
        home=tmp_path,
        stdin=json.dumps(body),
    )
    assert published.returncode == 0, published.stderr
    where = json.loads(published.stdout)
    assert where["topic"] == "covenant.cmd.model"

    tail = covenant(
        "events",
        "tail",
        "--from-beginning",
        "--no-follow",
        "--json",
        "--topic",
        "covenant.cmd.model",
        home=tmp_path,
    )
    assert tail.returncode == 0, tail.stderr
    (line,) = tail.stdout.splitlines()
    record = json.loads(line)["record"]
    assert record["meta"]["eventId"] == where["eventId"]
    assert record["family"] == "vit"

    topics = covenant("topics", "--json", home=tmp_path)
    rows = {row["topic"]: row for row in json.loads(topics.stdout)}
    assert rows["covenant.cmd.model"]["records"] == 1


def test_publish_names_the_bad_field_and_publishes_nothing(tmp_path: Path) -> None:
    body = {"family": "vit", "version": "1.0.0", "codeRef": "x", "artifactId": 7}
    result = covenant(
        "events",
        "publish",
        "model.register",
        "-",
        "--subject",
        "m",
        home=tmp_path,
        stdin=json.dumps(body),
    )
    assert result.returncode == 1
    assert "artifactId" in result.stderr
    malformed = covenant(
        "events",
        "publish",
        "model.register",
        "-",
        "--subject",
        "m",
        home=tmp_path,
        stdin="{not json",
    )
    assert malformed.returncode == 1
    assert "not JSON" in malformed.stderr
    tail = covenant("events", "tail", "--from-beginning", "--no-follow", home=tmp_path)
    assert tail.stdout.strip() == ""


def test_unknown_worker_and_topic_are_clear_errors(tmp_path: Path) -> None:
    worker = covenant("worker", "nope", home=tmp_path)
    assert worker.returncode == 2
    assert "known: datasets, registry" in worker.stderr
    tail = covenant("events", "tail", "--topic", "nope", home=tmp_path)
    assert tail.returncode == 2
    assert "declared topics" in tail.stderr
