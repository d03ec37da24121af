"""A git repository of training code for the executor tests, made in a temp folder.

Executors run code only from a commit, so the tests commit ``examples/digits`` (as
the package ``digits``, entrypoint ``digits.train:train``) together with ``probe``,
a tiny entrypoint that loads no machine-learning library and says in its log what it
did (``probe:train``), for the tests that are about the launcher, not the model.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "digits"
DIGITS_ENTRYPOINT = "digits.train:train"
PROBE_ENTRYPOINT = "probe:train"

PROBE_SOURCE = '''\
"""Says what it does, in its log. Hyperparameters: raise (a message), sleep_s."""

import time

print("probe: imported", flush=True)


def train(ctx):
    ctx.log(f"probe: entrypoint ran, attempt {ctx.attempt}")
    if ctx.hyperparams.get("raise"):
        raise RuntimeError(ctx.hyperparams["raise"])
    ctx.checkpoint(b"probe state", step=1)
    ctx.report({"answer": 42.0}, step=1)
    time.sleep(float(ctx.hyperparams.get("sleep_s", 0)))
    for name, path in sorted(ctx.datasets.items()):
        (ctx.output_dir / f"{name}.copy").write_bytes(path.read_bytes())
    (ctx.output_dir / "nested").mkdir()
    (ctx.output_dir / "nested" / "hello.txt").write_text("hello")
'''

_GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Covenant tests",
    "GIT_AUTHOR_EMAIL": "tests@example.com",
    "GIT_COMMITTER_NAME": "Covenant tests",
    "GIT_COMMITTER_EMAIL": "tests@example.com",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
}


def _git(repo: Path, *args: str) -> str:
    env = os.environ | _GIT_IDENTITY
    done = subprocess.run(
        ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


def commit_all(repo: Path, message: str) -> str:
    """Commit every tracked change in ``repo`` under the tests' identity; the new commit."""
    _git(repo, "commit", "-qam", message)
    return _git(repo, "rev-parse", "HEAD")


def make_training_repo(dest: Path) -> tuple[str, str]:
    """A repository at ``dest`` holding ``digits/`` and ``probe.py``, committed;
    ``(repo path, commit id)``."""
    dest.mkdir(parents=True)
    shutil.copytree(EXAMPLE, dest / "digits", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (dest / "probe.py").write_text(PROBE_SOURCE)
    _git(dest, "init", "-q", "-b", "main")
    _git(dest, "add", "-A")
    _git(dest, "commit", "-q", "-m", "training code")
    return str(dest), _git(dest, "rev-parse", "HEAD")


def digits_data() -> ModuleType:
    """``examples/digits/data.py``, loaded from its file (``examples`` is no package)."""
    spec = importlib.util.spec_from_file_location(
        "covenant_example_digits_data", EXAMPLE / "data.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
