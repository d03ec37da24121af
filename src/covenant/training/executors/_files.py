"""What the local executor reads of a run's process and folder: ``/proc`` fields,
the launcher's lock, small JSON files written atomically."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name, or None when there
    is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ")".
    return stat[stat.rindex(")") + 2 :].split()


def start_time_of(pid: int) -> tuple[str, int] | None:
    """``(state, start time in clock ticks since boot)`` of ``pid``, or None."""
    fields = _stat(pid)
    return None if fields is None else (fields[0], int(fields[19]))


def cpu_seconds_of(pid: int) -> float | None:
    fields = _stat(pid)
    if fields is None:
        return None
    ticks = sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


ALIVE_LOCK = "alive.lock"


def lock_held(path: Path) -> bool | None:
    """Whether some process holds ``path``'s lock (the launcher, while it lives);
    None when there is no such file (a run started before this file existed)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops a lock we may have taken
    return False


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    return body if isinstance(body, dict) else None


def write_json(path: Path, body: Mapping[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(dict(body), sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)
