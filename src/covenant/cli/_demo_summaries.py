"""One line per record for the demo's timeline: what a person scanning the table wants
from each (a verdict, who, where), not its fields. The values are records as the
codec decodes them (Avro's camelCase). The catalog's, audit's and training's lines
came first and are trusted to fit their records; training's live in its own step.

A line of evaluation, promotion, serving or drift that meets a shape it does not
expect says nothing rather than failing the demo: the timeline is for reading, the
records themselves are the truth.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from covenant.cli._demo_training import TRAINING_SUMMARIES

__all__ = ["FLOW_SUMMARIES", "QUIET", "summarize", "summarize_flow"]

#: Types the terminal's table leaves out: the audit trail's bookkeeping, the runner's
#: reports, thousands of drift samples and the marks windows are replayed from would
#: bury the story (``--json`` keeps every record).
QUIET = (
    "audit.leaves_appended",
    "audit.checkpoint_signed",
    "train.report",
    "drift.sample",
    "drift.window_opened",
    "drift.label",
)

Summary = Callable[[dict[str, Any]], str]


def _leaves(value: dict[str, Any]) -> str:
    first = value["firstLeaf"]
    return f"leaves {first}-{first + len(value['leaves']) - 1} appended to the audit tree"


def _clearance(value: dict[str, Any]) -> str:
    reasons = "; ".join(value["blockReasons"])
    return f"clearance={value['clearance']}" + (f" ({reasons})" if reasons else "")


_SUMMARIES: dict[str, Summary] = {
    "dataset.registered": _clearance,
    "dataset.rejected": lambda v: "rejected: " + "; ".join(v["reasons"]),
    "model.rejected": lambda v: "rejected: " + "; ".join(v["reasons"]),
    "model.registered": lambda v: f"{v['entry']['modelId']} status={v['entry']['status']}",
    "artifact.stored": lambda v: f"{v['artifactId'][:23]}… {v['sizeBytes']} bytes",
    "artifact.rejected": lambda v: f"rejected: {v['reason']}",
    "audit.leaves_appended": _leaves,
    "audit.checkpoint_signed": lambda v: (
        f"checkpoint: tree size {v['treeSize']} signed by {v['keyId']}"
    ),
    "record.dead_lettered": lambda v: f"{v['errorClass']}: {v['error'][:70]}",
} | TRAINING_SUMMARIES


def _gates(v: dict[str, Any]) -> str:
    failed = [g["name"] for g in v.get("gates", []) if not g["passed"]]
    accuracy = (v.get("task") or {}).get("accuracy")
    head = f"{v['modelId']} {'passed' if v['passed'] else 'FAILED'}"
    head += f", accuracy {accuracy:.3f}" if isinstance(accuracy, float) else ""
    return head + (f" (failed: {', '.join(failed)})" if failed else "")


def _deployment(v: dict[str, Any]) -> str:
    r = v["record"]
    text = f"{r['deployId']} {r['modelId']} {r['status']}, {r['trafficPercent']} %"
    return text + (f": {r['reason']}" if r.get("reason") else "")


def _split(v: dict[str, Any]) -> str:
    arms = ", ".join(f"{a['name']} {a['deployId']} {a['weight']} %" for a in v["arms"])
    return f"{v['route']}: {arms}"


def _scored(v: dict[str, Any]) -> str:
    drifted = [c["column"] for c in v["columns"] if c["drifted"]]
    where = f"window {v['window']} of {v['deployId']}, {v['rows']} rows"
    return f"{where}: drifted {', '.join(drifted)}" if v["drifted"] else f"{where}: no drift"


def _proposed(v: dict[str, Any]) -> str:
    request, target = v["request"], v["request"].get("target") or {}
    into = f" → {target['family']}:{target['version']}" if target else ""
    return (
        f"{v['proposalId'][:20]}… on {', '.join(request['datasetRefs'])}{into}, awaiting approval"
    )


FLOW_SUMMARIES: dict[str, Summary] = {
    "eval.run": lambda v: f"{v['modelId']} on {', '.join(v['testSetRefs'])}",
    "eval.completed": _gates,
    "manifest.sign": lambda v: f"{v['modelId']}: sign {v['manifestId']}",
    "manifest.signed": lambda v: (
        f"{v['signature']['modelId']} signed by {v['signature']['signerId']} "
        f"({v['signature']['custody']})"
    ),
    "promotion.request": lambda v: f"{v['modelId']} to {v['target']}",
    "promotion.pending": lambda v: (
        f"{v['modelId']} to {v['target']}: waiting for {v['waitingFor']}"
        + (
            f", {len(v['approvedBy'])} of {v['requiredApprovals']} approvals"
            if v["requiredApprovals"]
            else ""
        )
    ),
    "promotion.approve": lambda v: f"{v['approverId']} signs with {v['keyId']}",
    "promotion.approval_accepted": lambda v: f"{v['approverId']}'s signature verified",
    "promotion.approval_refused": lambda v: f"{v['approverId']}: {v['reason']}",
    "promotion.blocked": lambda v: "; ".join(r["message"] for r in v["reasons"]),
    "model.promoted": lambda v: f"{v['modelId']} {v['fromStatus']} → {v['toStatus']}",
    "serve.deploy": lambda v: f"{v['deployId']}: {v['modelId']} to {v['env']} ({v['route']})",
    "serve.deployment": _deployment,
    "serve.refused": lambda v: f"{v['deployId']} {v['code']}: {v['reason']}",
    "serve.observe": lambda v: f"{v['deployId']} {v['role']}: {v['ready']}/{v['desired']} ready",
    "serve.traffic": _split,
    "serve.load": lambda v: f"{v['deployId']}: {v['requestsPerS']:.1f} requests/s",
    "canary.observe": lambda v: f"{v['deployId']} step {v['step']}: samples of each arm",
    "canary.analysed": lambda v: (
        f"{v['deployId']} step {v['step']} at {v['trafficPercent']} %: {v['decision']}"
    ),
    "drift.scored": _scored,
    "drift.alert": lambda v: f"{v['severity']} → {v['remediation']}: {v['reason']}",
    "drift.finding": lambda v: f"windows {v['windows']}: {', '.join(v['statistics'][:3])}",
    "retrain.proposed": _proposed,
    "retrain.approve": lambda v: f"{v['decision']['approverId']} signs the proposal",
    "retrain.approved": lambda v: f"{v['approverId']} approved; {v['jobId'][:24]}… submitted",
}


def summarize_flow(kind: str, value: dict[str, Any]) -> str | None:
    """The line for ``value``, or None where none is known or its shape is not."""
    known = FLOW_SUMMARIES.get(kind)
    if known is None:
        return None
    try:
        return known(value)
    except (KeyError, TypeError, ValueError):
        return None


def summarize(value: dict[str, Any]) -> str:
    """A short human reading of a decoded record ("" where none is known)."""
    kind = value["meta"]["type"]
    if kind in _SUMMARIES:
        return _SUMMARIES[kind](value)
    flow = summarize_flow(kind, value)
    if flow is not None:
        return flow
    if kind.endswith((".register", ".record")):
        return f"asked by {value['meta']['actor']}"
    return ""
