"""The run record: the dependency digest is stable and order-free, and the record
holds nothing that changes between two attempts of the same job."""

from __future__ import annotations

import hashlib
import platform
from importlib import metadata

from covenant.training.executors import DatasetInput, RunSpec
from covenant.training.record import (
    dependencies_sha256,
    dependency_lines,
    environment,
    hardware_class,
    redact_url,
    run_record,
)

SPEC = RunSpec(
    job_id="job-1",
    attempt=1,
    code_repo="https://bot:s3cret@git.example.com/ml/digits.git",
    code_commit="a" * 40,
    entrypoint="digits.train:train",
    datasets=(DatasetInput("digits", "sha256:" + "b" * 64, "sha256:" + "b" * 64),),
    hyperparams={"epochs": 3},
    seed=7,
    cpus=2.0,
)


def test_the_dependency_digest_is_over_sorted_name_version_lines() -> None:
    lines = ["numpy==2.0.0", "covenant==0.1.0"]
    expected = hashlib.sha256(b"covenant==0.1.0\nnumpy==2.0.0\n").hexdigest()
    assert dependencies_sha256(lines) == expected
    assert dependencies_sha256(reversed(lines)) == expected
    assert dependencies_sha256([*lines, "numpy==2.0.0"]) == expected
    assert dependencies_sha256(["numpy==2.0.1", "covenant==0.1.0"]) != expected


def test_the_installed_distributions_hash_the_same_twice() -> None:
    lines = dependency_lines()
    assert lines == sorted(lines)
    assert any(line.startswith("covenant==") for line in lines)
    assert dependencies_sha256() == dependencies_sha256()


def test_distribution_names_are_normalised() -> None:
    class Dist:
        def __init__(self, name: str, version: str) -> None:
            self.metadata = {"Name": name}
            self.version = version

    found = dependency_lines([Dist("Foo_Bar", "1"), Dist("foo.bar", "1")])  # type: ignore[list-item]
    assert found == ["foo-bar==1"]
    assert isinstance(metadata.version("pytest"), str)


def test_the_image_digest_is_recorded_only_when_the_executor_names_one() -> None:
    assert "image_digest" not in environment({})
    assert environment({"COVENANT_IMAGE_DIGEST": "sha256:abc"})["image_digest"] == "sha256:abc"
    python = environment({})["python"]
    assert python == {
        "implementation": platform.python_implementation(),
        "version": platform.python_version(),
    }


def test_hardware_class_without_nvml_is_the_cpu_architecture() -> None:
    found = hardware_class()
    assert found.startswith(("cpu-", "gpu-"))
    if found.startswith("cpu-"):
        assert found == f"cpu-{platform.machine()}"


def test_the_record_is_the_same_for_every_attempt_and_keeps_no_credentials() -> None:
    first = run_record(SPEC, commit="a" * 40, executor="local", env={}, hardware="cpu-x86_64")
    again = run_record(SPEC, commit="a" * 40, executor="local", env={}, hardware="cpu-x86_64")
    assert first == again
    assert "s3cret" not in repr(first)
    assert first["code"] == {
        "repo": "https://***@git.example.com/ml/digits.git",
        "commit": "a" * 40,
        "entrypoint": "digits.train:train",
    }
    assert first["datasets"] == {"digits": "sha256:" + "b" * 64}
    assert first["compute"] == {"executor": "local", "workers": 1, "cpus": 2.0, "gpus": 0.0}
    assert (first["seed"], first["hyperparams"]) == (7, {"epochs": 3})


def test_redact_url_leaves_urls_without_credentials_alone() -> None:
    assert redact_url("/srv/git/digits") == "/srv/git/digits"
    assert redact_url("git@example.com:ml/x.git") == "git@example.com:ml/x.git"
    assert redact_url("ssh://git@example.com/x") == "ssh://***@example.com/x"
