"""The code and the compute the demo's training steps need, prepared under its home.

A job runs code only from a commit, so the digits example shipped with Covenant
(``covenant/_examples/digits`` in a wheel, ``examples/digits`` in the source tree) is
copied into a fresh git repository and committed, with a fixed author and date so
the same example always makes the same commit. The pools file gives the demo the
spec's GPU pool, ``gpu-us-east``, whatever this machine has; ``preempt`` takes a
run's machine away the way a spot reclaim does.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
from importlib import resources
from pathlib import Path
from types import ModuleType

from covenant.errors import CovenantError
from covenant.settings import Settings
from covenant.training.executors.local import LocalExecutor

# The spec's pool, and the machine's own: a CPU job never lands on an accelerator pool.
POOLS_TOML = """\
# Written by `covenant demo` (COVENANT_POOLS): the spec's GPU pool, and this machine.
[pools.gpu-us-east]
accelerator = "A100"
accelerators = 16
cpus = 192
memory_gb = 1536
hardware_class = "gpu-A100"
cost_rate = "2.93"

[pools.gpu-us-east.quotas]
vision = { accelerators = 8, cpus = 96 }

[pools.cpu-local]
cpus = 8
memory_gb = 32
hardware_class = "cpu-local"
cost_rate = "0.01"
"""
_GIT_IDENTITY = {  # fixed, so the same example always makes the same commit id
    "GIT_AUTHOR_NAME": "Covenant demo",
    "GIT_AUTHOR_EMAIL": "demo@example.com",
    "GIT_COMMITTER_NAME": "Covenant demo",
    "GIT_COMMITTER_EMAIL": "demo@example.com",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
}


class DemoError(CovenantError):
    """A demo step could not run or did not happen; the message says what to do."""


def example_source() -> Path:
    """The digits example: in the installed package, else in the source tree."""
    packaged = Path(str(resources.files("covenant"))) / "_examples" / "digits"
    for folder in (packaged, Path(__file__).resolve().parents[3] / "examples" / "digits"):
        if (folder / "train.py").is_file():
            return folder
    raise DemoError(
        "the digits example is missing (neither covenant/_examples/digits nor "
        "examples/digits); reinstall Covenant (scripts/install.sh)"
    )


def check_ready() -> Path:
    """Fail before anything runs when the example cannot train here; its folder."""
    missing = [m for m in ("sklearn", "skl2onnx", "onnx") if importlib.util.find_spec(m) is None]
    if missing:
        raise DemoError(
            f"the training steps need {', '.join(missing)}; install them with "
            "pip install 'covenant[examples]' (scripts/install.sh installs everything)"
        )
    if shutil.which("git") is None:
        raise DemoError("the training steps commit the example code with git; install git")
    return example_source()


def write_pools(home: Path) -> Path:
    """The demo's pools file under ``home``; the path (for ``COVENANT_POOLS``)."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / "pools.toml"
    path.write_text(POOLS_TOML, encoding="utf-8")
    return path


def commit_example(source: Path, dest: Path) -> tuple[str, str]:
    """``source`` committed at ``dest`` as the package ``digits``; (repo, commit)."""
    shutil.copytree(source, dest / "digits", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args],
            cwd=dest,
            env=os.environ | _GIT_IDENTITY,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise DemoError(f"git {args[0]} in {dest} failed: {done.stderr.strip()}")
        return done.stdout.strip()

    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("commit", "-q", "-m", "digits example")
    return str(dest), git("rev-parse", "HEAD")


def example_data(source: Path) -> ModuleType:
    """The example's ``data.py``, loaded from its file (it is not a package here)."""
    spec = importlib.util.spec_from_file_location("covenant_demo_digits_data", source / "data.py")
    if spec is None or spec.loader is None:
        raise DemoError(f"cannot load {source / 'data.py'}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def preempt(settings: Settings, run_id: str) -> int:
    """SIGKILL the run's process group, as a spot reclaim would; its pid."""
    folder = LocalExecutor(settings.home / "runs", settings.blobs_url).run_dir(run_id)
    pid = int(json.loads((folder / "process.json").read_text())["pid"])
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError as exc:
        raise DemoError(
            f"run {run_id} finished before it could be preempted; the machine was "
            "faster than the demo expects: run the demo again"
        ) from exc
    return pid
