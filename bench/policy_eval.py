"""Evaluating the built-in pre-train policy, side by side with cel-python.

The input is what the training worker sends for a job naming four datasets, one
flagged for PII, one under a licence that forbids training and never reviewed
(so three rules match, three reasons are rendered). Times, in one run:

  decide     ``covenant.policy.decide``: parse the JSON, convert it for CEL once,
             run the three rules and their reason expressions (what the worker does)
  evaluate   ``evaluate`` on the parsed document (no JSON parsing)
  convert    the document converted for CEL and the three compiled ``expr``
             programs run on it (no reasons): what cel-python is timed doing
  rules      the three programs alone, on a context converted once
  cel-python the same three expressions and the same document in ``celpy`` (pure
             Python), compiled once, converted and run, and run alone on an
             activation converted once; in ``--reference-python`` (a throwaway venv
             with ``pip install cel-python``; skipped when not given)

and prints evaluations/s and the ratios of like with like. Usage:

    .venv/bin/python bench/policy_eval.py [--seconds S] [--reference-python PY] [--json]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from covenant.events.policy import PolicyStage
from covenant.policy import decide, evaluate, load_policies
from covenant.policy._cel import context

CLEAN = {
    "license": "CC-BY-4.0",
    "pii_flags": [],
    "clearance": "allowed",
    "provenance_review": "passed",
    "approved": False,
    "checksum": "sha256:" + "ab" * 32,
}
DATASETS = {
    "sales:v3": CLEAN,
    "events:v1": CLEAN | {"license": "MIT"},
    "users:v2": CLEAN | {"pii_flags": ["email", "phone"], "clearance": "blocked"},
    "books:v1": CLEAN | {"license": "LicenseRef-no-training", "provenance_review": None},
}
REQUEST = {
    "job_id": "fraud-2026-12-01",
    "model_family": "fraud",
    "team": "risk",
    "dataset_refs": list(DATASETS),
    "code_repo": "git@example.com:fraud.git",
    "code_commit": "0" * 40,
    "entrypoint": "fraud.train:main",
    "hyperparams": {"lr": "0.01", "epochs": "20"},
    "seed": 7,
    "compute": {
        "pool": None,
        "accelerator": "A100",
        "accelerators": 2,
        "cpus": 8.0,
        "memory_gb": 64.0,
        "workers": 1,
        "executor": "ray",
    },
    "retrain_reason": None,
    "created_by": "alice",
}
DOCUMENT = {"request": REQUEST, "facts": {"datasets": DATASETS}}

# Runs in the reference interpreter: stdin is {"exprs", "document", "params", "seconds"}.
CELPY = """
import json, sys, time
import celpy
job = json.load(sys.stdin)
env = celpy.Environment()
programs = [env.program(env.compile(e)) for e in job["exprs"]]
def once():
    activation = {
        "request": celpy.json_to_cel(job["document"]["request"]),
        "facts": celpy.json_to_cel(job["document"]["facts"]),
        "params": celpy.json_to_cel(job["params"]),
    }
    return [list(p.evaluate(activation)) for p in programs]
def rate(work):
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < job["seconds"]:
        work()
        n += 1
    return n / (time.perf_counter() - start)
answers = once()
activation = {
    "request": celpy.json_to_cel(job["document"]["request"]),
    "facts": celpy.json_to_cel(job["document"]["facts"]),
    "params": celpy.json_to_cel(job["params"]),
}
print(json.dumps({
    "convert_per_s": rate(once),
    "rules_per_s": rate(lambda: [p.evaluate(activation) for p in programs]),
    "answers": answers,
}))
"""


def rate(work: Callable[[], Any], seconds: float) -> float:
    """Calls of ``work`` per second, after a warm-up."""
    for _ in range(100):
        work()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(100):
            work()
        n += 100
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--reference-python", help="an interpreter with cel-python installed")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    policies = load_policies()
    policy = policies[PolicyStage.PRE_TRAIN]
    text = json.dumps(DOCUMENT, sort_keys=True, separators=(",", ":"))
    decision = decide(policies, stage=PolicyStage.PRE_TRAIN, input_json=text)
    assert not decision.allowed, decision
    assert len(decision.matched) == 3, decision
    variables = {"request": REQUEST, "facts": DOCUMENT["facts"], "params": dict(policy.params)}
    ctx = context(variables)
    programs = [rule.program for rule in policy.rules]
    answers = [p.execute(ctx) for p in programs]

    def convert_and_run() -> list[Any]:
        converted = context(variables)
        return [p.execute(converted) for p in programs]

    results: dict[str, Any] = {
        "decide_per_s": rate(
            lambda: decide(policies, stage=PolicyStage.PRE_TRAIN, input_json=text), args.seconds
        ),
        "evaluate_per_s": rate(lambda: evaluate(policy, DOCUMENT), args.seconds),
        "convert_per_s": rate(convert_and_run, args.seconds),
        "rules_per_s": rate(lambda: [p.execute(ctx) for p in programs], args.seconds),
    }
    if args.reference_python:
        job = {
            "exprs": [rule.expr for rule in policy.rules],
            "document": DOCUMENT,
            "params": dict(policy.params),
            "seconds": args.seconds,
        }
        out = subprocess.run(
            [args.reference_python, "-c", CELPY],
            input=json.dumps(job),
            capture_output=True,
            text=True,
            check=True,
        )
        reference = json.loads(out.stdout)
        assert reference["answers"] == answers, (reference["answers"], answers)
        results["celpy_convert_per_s"] = reference["convert_per_s"]
        results["celpy_rules_per_s"] = reference["rules_per_s"]
        results["convert_vs_celpy"] = results["convert_per_s"] / reference["convert_per_s"]
        results["rules_vs_celpy"] = results["rules_per_s"] / reference["rules_per_s"]
    results["python"] = platform.python_version()
    results["machine"] = f"{platform.machine()} {platform.system()}"
    if args.json:
        json.dump(results, sys.stdout, indent=2)
        print()
        return
    for key, value in results.items():
        shown = f"{value:,.1f}" if isinstance(value, float) else value
        print(f"{key:>20}  {shown}")


if __name__ == "__main__":
    main()
