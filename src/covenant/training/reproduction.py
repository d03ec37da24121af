"""Whether a rerun made the same bytes, and when it did not, what differs.

Pure: two completed runs in, a verdict out. The report names the inputs that
differ (commit, environment, data, seed, hyperparameters, hardware class) and the
output files whose bytes differ, so "not identical" always comes with a why.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from covenant.events.runs import RunRecord
from covenant.events.training import RecordDifference, TrainingCompleted
from covenant.training.sdk import PROFILE_OUTPUT


@dataclass(frozen=True)
class Verdict:
    identical: bool
    differences: list[RecordDifference]
    differing_outputs: list[str]


def _text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def record_differences(original: RunRecord, rerun: RunRecord) -> list[RecordDifference]:
    """The inputs that differ between two run records, one entry per input."""
    pairs: list[tuple[str, object, object]] = [
        (
            "commit",
            f"{original.code_repo}#{original.code_commit}",
            f"{rerun.code_repo}#{rerun.code_commit}",
        ),
        ("entrypoint", original.entrypoint, rerun.entrypoint),
        ("environment", original.environment.model_dump(), rerun.environment.model_dump()),
        (
            "data",
            {d.dataset_id: d.checksum for d in original.datasets},
            {d.dataset_id: d.checksum for d in rerun.datasets},
        ),
        ("seed", original.seed, rerun.seed),
        ("hyperparams", original.hyperparams, rerun.hyperparams),
        ("hardware", original.hardware_class, rerun.hardware_class),
    ]
    return [
        RecordDifference(field=name, original=_text(a), rerun=_text(b))
        for name, a, b in pairs
        if a != b
    ]


def outputs(completed: TrainingCompleted) -> dict[str, str]:
    """What a run wrote (path -> artifact id), checkpoints, logs and the drift
    profile left out: a checkpoint's bytes may differ with where the run was
    interrupted, the log holds timings, the profile's sketches compact at random
    past 2,000 rows, and none of them is the result."""
    return {
        a.path: a.artifact_id
        for a in completed.artifacts
        if a.kind in ("model", "output", "metrics") and a.path != PROFILE_OUTPUT
    }


def compare(original: TrainingCompleted, rerun: TrainingCompleted) -> Verdict:
    """The verdict on ``rerun`` against ``original``."""
    before, after = outputs(original), outputs(rerun)
    differing = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
    differences = record_differences(original.record, rerun.record)
    return Verdict(not differing and not differences, differences, differing)
