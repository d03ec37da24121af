"""Progress lines: how a running launcher tells the control plane what happened.

One line on standard output per fact, ``::covenant:: {json}``. Every executor can
read a process's output back (a log file, a Ray job's logs), so this is the one
channel that works the same on a laptop and on a cluster, and the log it lives
in is also the run's ``logsRef``. Lines that do not start with the marker are the
entrypoint's own output and are left alone; a marked line that does not parse is
reported as an error, never guessed at.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["MARKER", "Progress", "ProgressKind", "format_line", "parse_lines"]

MARKER = "::covenant:: "

ProgressKind = Literal["started", "checkpoint", "metrics", "completed", "failed"]
_KINDS: frozenset[str] = frozenset(("started", "checkpoint", "metrics", "completed", "failed"))


@dataclass(frozen=True)
class Progress:
    """One fact a launcher reported.

    Kinds and their ``data``:
        started: ``{"record": {...}}`` the run record as far as it is known before
            the entrypoint runs (commit, environment, dataset checksums, hardware
            class).
        checkpoint: ``{"step": int, "artifact_id": "sha256:..."}``.
        metrics: ``{"step": int | None, "metrics": {name: float}}``.
        completed: ``{"outputs": {relative path: "sha256:..."}, "metrics": {...},
            "record": {...}}``.
        failed: ``{"reason": str}`` (the launcher refused or the entrypoint raised).
    """

    kind: ProgressKind
    data: dict[str, Any] = field(default_factory=dict)


def format_line(progress: Progress) -> str:
    """The line to print (without the newline): canonical JSON after the marker."""
    body = {"kind": progress.kind, "data": progress.data}
    return MARKER + json.dumps(body, sort_keys=True, separators=(",", ":"))


def parse_lines(text: str) -> list[Progress]:
    """Every progress line in ``text``, in order; a last line without its newline
    yet (still being written) is left for the next read.

    Raises:
        ValueError: for a marked line that is not a progress record, quoting it.
    """
    found: list[Progress] = []
    lines = text.split("\n")
    for line in lines[:-1] if not text.endswith("\n") else lines:
        if not line.startswith(MARKER):
            continue
        try:
            body = json.loads(line[len(MARKER) :])
            kind, data = body["kind"], body["data"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"not a progress line: {line[:200]!r}") from exc
        if kind not in _KINDS or not isinstance(data, dict):
            raise ValueError(f"not a progress line: {line[:200]!r}")
        found.append(Progress(kind, data))
    return found
