"""A git repository holding ``examples/boosting`` (as the package ``boosting``, entrypoint
``boosting.train:train``) and the conformance suite's ``probe``, for the Ray tests, plus
the example's data set module."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from types import ModuleType

from training_repo import PROBE_SOURCE, ROOT, _git

EXAMPLE = ROOT / "examples" / "boosting"
BOOSTING_ENTRYPOINT = "boosting.train:train"


def make_boosting_repo(dest: Path) -> tuple[str, str]:
    """A repository at ``dest`` holding ``boosting/`` and ``probe.py``, committed;
    ``(repo path, commit id)``."""
    dest.mkdir(parents=True)
    shutil.copytree(
        EXAMPLE, dest / "boosting", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    (dest / "probe.py").write_text(PROBE_SOURCE)
    _git(dest, "init", "-q", "-b", "main")
    _git(dest, "add", "-A")
    _git(dest, "commit", "-q", "-m", "boosting code")
    return str(dest), _git(dest, "rev-parse", "HEAD")


def boosting_data() -> ModuleType:
    """``examples/boosting/data.py``, loaded from its file (``examples`` is no package)."""
    spec = importlib.util.spec_from_file_location(
        "covenant_example_boosting_data", EXAMPLE / "data.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
