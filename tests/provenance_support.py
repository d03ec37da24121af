"""What the provenance tests share: a signer, a predicate, a small model folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from covenant.provenance import build_predicate

ARTIFACT_ID = "sha256:" + "ab" * 32


def predicate(**overrides: Any) -> dict[str, Any]:
    """A model-promotion predicate as the promotion code would pass it."""
    fields: dict[str, Any] = {
        "model_id": "digits:1.2.0",
        "artifact_id": ARTIFACT_ID,
        "registry_entry": {"modelId": "digits:1.2.0", "family": "digits", "status": "staged"},
        "lineage": {"datasets": ["sha256:" + "cd" * 32], "codeRef": "git:abc123"},
        "run": {"runId": "run-1", "status": "completed", "metrics": {"accuracy": 0.97}},
        "evaluations": [{"suite": "holdout", "metrics": {"accuracy": 0.971, "f1": 0.5e-7}}],
        "policy_decisions": [{"stage": "pre-promotion", "allowed": True, "reasons": []}],
    }
    fields.update(overrides)
    return build_predicate(**fields)


def onnx_model_bytes(scale: float = 2.0) -> bytes:
    """A tiny real ONNX model: y = x * scale."""
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node("Mul", ["x", "k"], ["y"])
    graph = helper.make_graph(
        [node],
        "scale",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        [helper.make_tensor("k", TensorProto.FLOAT, [1], [scale])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.metadata_props.add(key="author", value="tests")
    onnx.checker.check_model(model)
    return model.SerializeToString()


def model_folder(root: Path) -> Path:
    """A model artifact folder: the ONNX file, a config, a nested vocabulary."""
    folder = root / "model"
    (folder / "assets").mkdir(parents=True)
    (folder / "model.onnx").write_bytes(onnx_model_bytes())
    (folder / "config.json").write_text('{"classes": 10}')
    (folder / "assets" / "labels.txt").write_text("\n".join(str(i) for i in range(10)))
    return folder


async def audited_events(
    audit_signer: Any, count: int = 3, *, every: int = 1000
) -> tuple[list[bytes], Any]:
    """``count`` registry events audited as the worker would (checkpoints every
    ``every`` leaves, and one at the end); returns their record bytes and the trail."""
    from covenant.audit import AuditTrail
    from covenant.audit.state import CheckpointPolicy
    from covenant.audit.synthetic import build_log
    from covenant.events.contract import default_codec
    from covenant.testing import FrozenClock, SequentialIds
    from covenant.testing import builders as b
    from covenant.topics import AUDIT

    codec, clock, ids = default_codec(), FrozenClock(), SequentialIds()
    messages = [b.model_registered(f"digits:1.{i}.0", clock=clock, ids=ids) for i in range(count)]
    values = [codec.encode(m) for m in messages]
    entries = [
        (type(m).TOPIC, m.meta.subject.encode(), v) for m, v in zip(messages, values, strict=True)
    ]
    log = await build_log(
        entries,
        codec=codec,
        signer=audit_signer,
        batch_size=1,
        policy=CheckpointPolicy(every=every, interval_s=float("inf")),
    )
    trail = AuditTrail.from_values(r.value for r in log.records if r.topic == AUDIT.name)
    return values, trail


async def make_bundle(
    tmp_path: Path, keys: dict[str, Any], *, vouch: bool = True, every: int = 1000
) -> tuple[bytes, Path, Any]:
    """A bundle of a signed model folder and three audited events; keys "manifest" and
    "audit" are signers. Returns the bundle, the folder and the audit trail."""
    from covenant.provenance import (
        build_bundle,
        build_statement,
        sign_envelope,
        subjects_from_folder,
    )

    folder = model_folder(tmp_path)
    audit_id = keys["audit"].key_id if vouch else None
    statement = build_statement(subjects_from_folder(folder), predicate(audit_key_id=audit_id))
    envelope = await sign_envelope(statement, keys["manifest"])
    values, trail = await audited_events(keys["audit"], 3, every=every)
    events = [
        (v, trail.prove_inclusion(leaf.event_id))
        for v, leaf in zip(values, trail.leaves, strict=True)
    ]
    bundle = build_bundle(
        envelope,
        signer_public_key_pem=keys["manifest"].public_key_pem(),
        events=events,
        audit_public_key_pem=keys["audit"].public_key_pem(),
    )
    return bundle, folder, trail
