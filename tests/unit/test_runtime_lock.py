"""The service image's lock: hash-pinned, runtime only, at the versions the tests ran on.

The Dockerfile installs ``requirements/runtime.lock`` with ``--require-hashes
--no-deps``, so this file alone decides what runs in production: a package missing
from it fails at import time in a container, a test tool in it ships attack surface
nobody needs, and a version that differs from ``dev.lock`` is one the suite never ran.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RUNTIME = REPO / "requirements" / "runtime.lock"
DEV = REPO / "requirements" / "dev.lock"
DOCKERFILE = REPO / "Dockerfile"

# What the dev extra adds only for testing and linting: the tools themselves, and the
# independent implementations the tests compare Covenant's output with.
TEST_TOOLS = {
    "pytest",
    "pytest-asyncio",
    "pytest-timeout",
    "hypothesis",
    "ruff",
    "mypy",
    "moto",
    "coverage",
    "openlineage-python",
    "securesystemslib",
    "in-toto-attestation",
    "rfc3339-validator",
    "rfc3986-validator",
}

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def requirements(path: Path) -> list[tuple[str, str, list[str]]]:
    """(name, version, hashes) per requirement, joining ``\\``-continued lines."""
    joined = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in joined.splitlines():
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        match = _PIN.match(text)
        assert match, f"{path.name}: not an exact pin: {text[:80]!r}"
        out.append((match[1].lower(), match[2], re.findall(r"--hash=sha256:([0-9a-f]{64})", text)))
    return out


def test_every_runtime_package_is_pinned_with_a_hash() -> None:
    pinned = requirements(RUNTIME)
    assert len(pinned) > 20
    unhashed = [name for name, _, hashes in pinned if not hashes]
    assert not unhashed, f"pinned without --hash (re-run scripts/lock.sh): {unhashed}"


def test_no_test_tool_ships_in_the_image() -> None:
    names = {name for name, _, _ in requirements(RUNTIME)}
    assert not names & TEST_TOOLS, f"test tools in runtime.lock: {sorted(names & TEST_TOOLS)}"
    # And what the service imports at run time is there: core, signing, serving, Ray.
    assert {"aiokafka", "asyncpg", "aioboto3", "uvicorn", "python-pkcs11", "onnxruntime"} <= names
    assert {"scipy", "kubernetes-asyncio", "ray"} <= names


def test_runtime_versions_are_the_ones_the_tests_ran_on() -> None:
    dev = {(name, version) for name, version, _ in requirements(DEV)}
    differ = [(n, v) for n, v, _ in requirements(RUNTIME) if (n, v) not in dev]
    assert not differ, f"not at dev.lock's versions (run scripts/lock.sh): {differ}"


def test_the_image_installs_the_runtime_lock_hash_checked_as_non_root() -> None:
    text = DOCKERFILE.read_text()
    install = re.search(r"pip install[^\n]*(?:\\\n[^\n]*)*runtime\.lock", text)
    assert install, "the Dockerfile must install requirements/runtime.lock"
    assert "--require-hashes" in install[0]
    assert "--no-deps" in install[0]
    assert "dev.lock" not in text
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users, "the image must not run as root"
    assert users[-1].split(":")[0] not in {"0", "root"}
