"""The ``covenant`` command as a user runs it, against the embedded log."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from openlineage_schema import assert_valid_openlineage


def covenant(
    *args: str, home: Path, stdin: str = "", timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "covenant", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={"COVENANT_HOME": str(home), "PATH": "/usr/bin:/bin"},
        timeout=timeout,
    )


# What answers each command of the registry, the datasets and the artifacts.
DECISIONS = {
    "artifact.stored",
    "artifact.rejected",
    "dataset.registered",
    "dataset.rejected",
    "model.registered",
    "model.rejected",
}


@dataclass(frozen=True)
class Demo:
    home: Path
    summary: dict[str, Any]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """One ``covenant demo --json`` for the tests that read it (it trains three runs)."""
    root = tmp_path_factory.mktemp("demo")
    # A digits run takes 5-15 s on a loaded machine, and the demo makes three.
    result = covenant("demo", "--json", "--home", str(root / "demo"), home=root, timeout=600)
    assert result.returncode == 0, result.stderr
    return Demo(root / "demo", json.loads(result.stdout))


def test_demo_json_shows_commands_turned_into_events(demo: Demo) -> None:
    summary = demo.summary
    timeline = summary["timeline"]
    types = [entry["type"] for entry in timeline]
    # The three byte sets the demo stores by hand, each re-hashed and stored.
    by_hand = {
        e["subject"]
        for e in timeline
        if e["type"] == "artifact.record" and e["summary"] == "asked by alice@example.com"
    }
    assert len(by_hand) == 3
    assert by_hand <= {e["subject"] for e in timeline if e["type"] == "artifact.stored"}
    # imagenet-mini, support-chats, digits, the digits test set of the evaluation, and
    # the inverted export and test set the canary's regressed version is made from, and
    # the fresh data and test set the drift step's retrain is trained and evaluated on
    assert types.count("dataset.registered") == 8
    # vision-transformer by hand; digits 1.0.0, 1.1.0 and 1.2.0 for the canaries, and
    # 1.3.0, the drift step's retrain
    assert types.count("model.registered") == 5
    assert types.count("model.rejected") == 2  # bad SemVer, and the duplicate version
    assert types.count("record.dead_lettered") == 1
    # Every command got exactly one decision, linked by causation id.
    commands = [e["event_id"] for e in timeline if e["type"].endswith(("register", "record"))]
    causes = [e["caused_by"] for e in timeline if e["type"] in DECISIONS]
    assert sorted(commands) == sorted(causes)
    blocked = [e for e in timeline if "clearance=blocked" in e["summary"]]
    assert [e["subject"] for e in blocked] == ["dataset:support-chats:v3"]
    lineage = summary["lineage"]
    assert [d["dataset_id"] for d in lineage["datasets"]] == ["imagenet-mini:v1"]
    assert "git@example.com:ml/vit.git#9d1e2b7" in lineage["code_refs"]
    assert summary["replay_identical"] is True
    # Every record of the log is a leaf under a signed checkpoint that verifies.
    assert summary["audit_ok"] is True
    logged = [e for e in timeline if e["topic"] != "covenant.audit"]
    assert summary["audit_records"] == len(logged) + 13  # + the OpenLineage runs
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
        home=demo.home,
    )
    runs = [json.loads(line)["record"] for line in tail.stdout.splitlines()]
    for run in runs:  # each one valid OpenLineage, by the official JSON schemas
        assert_valid_openlineage(run)
    assert sorted(r["job"]["name"] for r in runs) == [
        "prepare:digits-inverted-test:v1",
        "prepare:digits-inverted:v1",
        "prepare:digits-test:v1",
        "prepare:digits-test:v2",
        "prepare:digits:v1",
        "prepare:digits:v2",
        "prepare:imagenet-mini:v1",
        "prepare:support-chats:v3",
        "train:digits",
        "train:digits",
        "train:digits",
        "train:digits",
        "train:vision-transformer",
    ]


def test_demo_trains_preempts_resumes_registers_reproduces_and_charges(demo: Demo) -> None:
    training, timeline = demo.summary["training"], demo.summary["timeline"]
    job, rerun = training["job_id"], training["rerun_job_id"]

    def of(kind: str, subject: str) -> list[str]:
        return [e["summary"] for e in timeline if e["type"] == kind and e["subject"] == subject]

    # Cleared by the pre-train policy, then allocated in the spec's pool.
    assert of("train.cleared", job) == [f"cleared by pre-train policy {training['policy_version']}"]
    assert (training["pool"], training["requested"]) == ("gpu-us-east", "2xA100")
    assert training["allocated_hardware_class"] == "gpu-A100"
    assert of("train.allocated", job) == ["pool gpu-us-east, hardware class gpu-A100"]
    # What it ran on is the run record's, whatever the allocation said.
    assert training["ran_on_hardware_class"] == training["provenance"]["hardwareClass"]
    # SIGKILLed after its first checkpoint, resumed from it, finished as attempt 2.
    assert training["preempted_attempt"] == 1
    assert len(of("train.preempted", job)) == 1
    assert training["attempts"] == 2
    assert 1 <= training["resumed_from_step"] < 4
    assert of("train.resumed", job) == [
        f"attempt 2 from epoch {training['resumed_from_step']}'s checkpoint"
    ]
    assert training["checkpoints"] == 4  # one per epoch, over both attempts
    assert len(of("train.checkpointed", job)) == 4
    # The trained model is the registered version, with the run as provenance.
    assert (training["model_id"], training["model_status"]) == ("digits:1.0.0", "draft")
    assert training["provenance"]["trainingJob"] == job
    assert training["provenance"]["runId"] == f"{job}.a2"
    (registered,) = of("model.registered", "model:digits:1.0.0")
    assert registered == "digits:1.0.0 status=draft"
    named = {a["artifact_id"]: a["name"] for a in training["lineage"]["artifacts"]}
    assert named[training["model_artifact_id"]] == f"{job}/model.onnx"
    assert [d["dataset_id"] for d in training["lineage"]["datasets"]] == ["digits:v1"]
    # The rerun made the same bytes.
    assert training["identical"] is True
    assert training["differences"] == []
    assert of("train.reproduced", rerun) == [f"of {job}: identical=True"]
    # Finance: accelerator-hours and a chargeback for each job.
    assert set(training["cost"]) == set(training["gpu_hours"]) == {job, rerun}
    assert all(float(hours) > 0 for hours in training["gpu_hours"].values())
    assert len(of("finance.chargeback", job)) == len(of("finance.chargeback", rerun)) == 1
    assert "accelerator-hours (2xA100 held" in of("finance.usage", job)[0]


def test_demo_evaluates_signs_on_the_hsm_and_promotes_with_multisig(demo: Demo) -> None:
    promotion = demo.summary["promotion"]
    assert promotion["eval_passed"] is True
    assert promotion["accuracy"] >= 0.9
    assert promotion["custody"] == "hsm"
    assert promotion["signer_id"] == demo.summary["audit_key"]  # one key: COVENANT_SIGNER
    assert "no step is skipped" in promotion["skipped_staging_blocked"][0]
    assert promotion["staging"] == "draft → staging"
    assert promotion["required_approvals"] == 2
    assert "forged" in promotion["forged_refused"]
    assert promotion["approved_by"] == ["ann", "bob"]
    assert promotion["prod"] == "staging → prod"
    assert promotion["watermark_checked"] is True
    # The bundle verifies offline, with the manifest key alone, by another process.
    key = demo.home / "manifest-signer.pem"
    checked = covenant(
        "verify", "bundle", promotion["bundle"], "--public-key", str(key), "--json", home=demo.home
    )
    assert checked.returncode == 0, checked.stderr
    report = json.loads(checked.stdout)
    assert report["ok"] is True
    assert "model.promoted" in {e["type"] for e in report["events"]}


def test_demo_serves_the_promoted_model_with_provenance_on_every_answer(demo: Demo) -> None:
    serving = demo.summary["serving"]
    model_id = demo.summary["training"]["model_id"]
    assert serving["staging"] == f"staging-1 serving {model_id} on route digits-staging"
    assert serving["prod"] == f"prod-1 serving {model_id} on route digits"
    assert serving["refused"].startswith("not_promoted")
    assert len(serving["predictions"]) == 3
    for answer in serving["predictions"]:
        assert answer["modelId"] == "digits:1.1.0"  # the version the canary promoted
        assert answer["signerId"] == demo.summary["audit_key"]
        assert answer["artifactDigest"].startswith("sha256:")
        assert answer["traceparent"].startswith("00-")
    assert sum(a["prediction"] == a["label"] for a in serving["predictions"]) >= 2


def test_demo_canaries_a_version_to_100_and_rolls_back_a_regression_by_itself(
    demo: Demo,
) -> None:
    canary = demo.summary["serving"]["canary"]
    assert canary["passed"] == "prod-2 serving digits:1.1.0 on route digits"
    assert canary["passed_percent"] == 100
    decided = [line for line in canary["passed_steps"] if line.startswith("  step ")]
    assert [line.split(":")[1].split()[0] for line in decided] == ["pass", "pass"]
    assert canary["rolled_back"] == "prod-3 (digits:1.2.0)"
    assert canary["rollback_status"] == "rolled_back"
    assert canary["rollback_reason"].startswith("canary failed step 1")
    assert "critical metric accuracy failed" in canary["rollback_reason"]
    explained = "\n".join(canary["explanation"])
    assert "step 1 at 25 %: fail" in explained
    assert "fail  accuracy: canary " in explained  # its statistics, as explain shows them
    assert canary["client_failed"] == 0, canary["client_failures"]
    assert canary["client_ok"] > 200
    # Both versions reached prod the way the first did: trained, evaluated, promoted.
    types = {(e["type"], e["subject"]) for e in demo.summary["timeline"]}
    for version in ("1.1.0", "1.2.0"):
        assert ("train.completed", f"digits-{version}") in types
        assert ("model.promoted", f"model:digits:{version}") in types


def test_demo_sees_the_shift_proposes_a_retrain_and_canaries_it_once_approved(
    demo: Demo,
) -> None:
    drift = demo.summary["serving"]["drift"]
    shifted = "\n".join(drift["windows"])
    assert "p20 (ks" in shifted or "p43 (ks" in shifted  # the two shifted pixels
    assert "windows [" in drift["lineage"]
    assert drift["proposal"].endswith("on digits:v2 → digits:1.3.0")  # the fresh data
    assert drift["lineage"].startswith("from digits:1.1.0 (job digits-1.1.0")
    assert " USD for " in drift["cost"]
    assert drift["quota"].startswith("fits")
    assert drift["untrained_before_approval"] is True
    assert drift["approved_by"].startswith("ann")
    assert drift["canary"] == "prod-4 serving digits:1.3.0 on route digits"
    assert drift["canary_percent"] == 100
    page = Path(drift["report"]).read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert '<section class="col drift"><div><h2>p' in page
    # The order of events: the alert before the proposal, the approval before the
    # retrain's job was queued, and the job before the new version's promotion.
    order = [(e["type"], e["subject"]) for e in demo.summary["timeline"]]
    kinds = [t for t, _ in order]
    assert kinds.index("drift.alert") < kinds.index("retrain.proposed")
    queued = [i for i, (t, subject) in enumerate(order) if t == "train.queued"]
    assert kinds.index("retrain.approved") < queued[-1]
    assert ("model.promoted", "model:digits:1.3.0") in order


def test_demo_refuses_a_folder_that_holds_a_log(tmp_path: Path) -> None:
    home = tmp_path / "used"
    home.mkdir()
    (home / "log.sqlite3").write_bytes(b"")
    result = covenant("demo", "--home", str(home), home=tmp_path)
    assert result.returncode == 1
    assert "give an empty or new folder" in result.stderr


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
