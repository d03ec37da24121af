"""The composition root wires training from the settings: pools, executors,
policies; a bad policy folder stops start-up with the file's error."""

from __future__ import annotations

from pathlib import Path

import pytest

from covenant.platform import Resources, build_workers
from covenant.policy import PolicyFileError
from covenant.settings import Settings


def test_the_settings_name_the_policies_pools_and_ray(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "COVENANT_HOME": str(tmp_path),
            "COVENANT_POLICIES": str(tmp_path / "policies"),
            "COVENANT_RAY": "http://127.0.0.1:8265",
            "COVENANT_POLICY_TIMEOUT_S": "5",
        }
    )
    assert settings.policies_path == tmp_path / "policies"
    assert settings.policy_timeout_s == 5
    resources = Resources.from_settings(settings)
    assert resources.executors == ("local", "ray")
    assert set(resources.pools) == {"cpu-local"}


def test_a_policy_folder_without_policies_stops_start_up(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    settings = Settings.from_env(
        {"COVENANT_HOME": str(tmp_path), "COVENANT_POLICIES": str(tmp_path / "policies")}
    )
    with pytest.raises(PolicyFileError, match="no policy file"):
        build_workers(["policy"], resources=Resources.from_settings(settings))


def test_every_training_worker_is_built_from_default_resources() -> None:
    names = [w.name for w in build_workers(["policy", "allocator", "training"])]
    assert names == ["policy", "allocator", "training"]
