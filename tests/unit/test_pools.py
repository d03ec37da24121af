"""Pools: the file format, its errors, and which pool a job fits."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from covenant.errors import ConfigError
from covenant.events.refusals import RefusalCode
from covenant.events.training import ComputeRequirements
from covenant.settings import Settings
from covenant.training.pools import (
    DEFAULT_POOL,
    Pool,
    Quota,
    default_pools,
    fit,
    load_pools,
    pools_for,
)

ROOT = Path(__file__).resolve().parents[2]
GOOD = """
[pools.gpu-a]
accelerator = "A100"
accelerators = 8
cpus = 64
memory_gb = 512
hardware_class = "gpu-A100"
cost_rate = "3.10"

[pools.gpu-a.quotas]
vision = { accelerators = 4, cpus = 32 }
"*" = { accelerators = 1 }

[pools.gpu-b]
accelerator = "A100"
accelerators = 16
cpus = 128
memory_gb = 1024
hardware_class = "gpu-A100"
cost_rate = "2.50"
currency = "EUR"

[pools.cpu]
cpus = 32
memory_gb = 128
hardware_class = "cpu"
cost_rate = "0.04"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pools.toml"
    path.write_text(text)
    return path


def test_a_good_file_loads_every_field(tmp_path: Path) -> None:
    pools = load_pools(write(tmp_path, GOOD))
    assert sorted(pools) == ["cpu", "gpu-a", "gpu-b"]
    a = pools["gpu-a"]
    assert (a.accelerator, a.accelerators, a.cpus, a.memory_gb) == ("A100", 8, 64.0, 512.0)
    assert (a.hardware_class, a.cost_rate, a.currency) == ("gpu-A100", Decimal("3.10"), "USD")
    assert a.quota_for("vision") == Quota(accelerators=4, cpus=32.0)
    assert a.quota_for("someone") == Quota(accelerators=1)  # the "*" default
    assert pools["gpu-b"].currency == "EUR"
    assert pools["cpu"].accelerator is None
    assert pools["cpu"].quota_for("anyone") == Quota()  # no quotas table: the whole pool


def test_the_example_deployment_file_loads() -> None:
    pools = load_pools(ROOT / "deploy/pools.toml")
    assert {"gpu-us-east", "tpu-europe", "cpu-highmem", "cpu-local"} <= set(pools)
    assert pools["gpu-us-east"].accelerator == "A100"
    assert pools["gpu-us-east"].hardware_class == "gpu-A100"


def test_a_listed_table_without_a_default_shuts_other_teams_out(tmp_path: Path) -> None:
    text = GOOD.replace('"*" = { accelerators = 1 }\n', "")
    assert load_pools(write(tmp_path, text))["gpu-a"].quota_for("other") is None


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('cost_rate = "3.10"', "cost_rate = 3.10", "pool 'gpu-a': cost_rate: 3.1: give the price"),
        ('cost_rate = "3.10"', 'cost_rate = "cheap"', "pool 'gpu-a': cost_rate: 'cheap'"),
        ('cost_rate = "3.10"', 'cost_rate = "-1"', "pool 'gpu-a': cost_rate: '-1'"),
        ('cost_rate = "3.10"', "", "pool 'gpu-a': cost_rate"),
        ("accelerators = 8\n", "accelerators = 2.5\n", "pool 'gpu-a': accelerators: 2.5 is not"),
        ("accelerators = 8\n", "", "pool 'gpu-a': accelerators: a pool of A100 must hold"),
        ("cpus = 64", 'cpus = "many"', "pool 'gpu-a': cpus: 'many' is not a number"),
        ("cpus = 64", "cpus = -1", "pool 'gpu-a': cpus: -1 is not"),
        ("memory_gb = 512\n", "", "pool 'gpu-a': memory_gb: required"),
        (
            'hardware_class = "gpu-A100"\ncost_rate = "3.10"',
            'cost_rate = "3.10"',
            "pool 'gpu-a': hardware_class: required",
        ),
        ('currency = "EUR"', 'currency = "euro"', "pool 'gpu-b': currency: 'euro'"),
        ("vision = { accelerators = 4", "vision = { gpus = 4", "pool 'gpu-a': quotas.vision.gpus"),
        (
            "vision = { accelerators = 4",
            "vision = { accelerators = -4",
            "pool 'gpu-a': quotas.vision.accelerators: -4",
        ),
        ("[pools.cpu]\n", "[pools.cpu]\ncolour = 1\n", "pool 'cpu': colour: unknown field"),
        ("[pools.cpu]\n", "[pools.cpu]\naccelerators = 2\n", "pool 'cpu': accelerators: a pool"),
        ("[pools.cpu]", "[pools.CPU]", "pool 'CPU': name:"),
    ],
)
def test_each_bad_field_is_named_with_the_file_and_the_pool(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError) as caught:
        load_pools(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert expected in str(caught.value)


def test_a_missing_or_broken_file_says_which(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the pools file"):
        load_pools(tmp_path / "none.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_pools(write(tmp_path, "[pools.x\n"))
    with pytest.raises(ConfigError, match="declare at least one pool"):
        load_pools(write(tmp_path, "title = 'no pools'\n"))


def test_without_a_file_there_is_one_local_cpu_pool_sized_to_the_machine() -> None:
    pools = default_pools(cpu_count=6, memory_gb=16)
    pool = pools[DEFAULT_POOL]
    assert (pool.accelerator, pool.cpus, pool.memory_gb) == (None, 6.0, 16.0)
    assert pool.quota_for("anyone") == Quota(accelerators=0, cpus=6.0, memory_gb=16.0)
    assert pools_for(None).keys() == {DEFAULT_POOL}


def test_settings_read_the_pools_path_from_the_environment(tmp_path: Path) -> None:
    assert Settings.from_env({"COVENANT_HOME": str(tmp_path)}).pools_path is None
    env = {"COVENANT_HOME": str(tmp_path), "COVENANT_POOLS": str(tmp_path / "p.toml")}
    assert Settings.from_env(env).pools_path == tmp_path / "p.toml"


@pytest.fixture
def pools(tmp_path: Path) -> dict[str, Pool]:
    return dict(load_pools(write(tmp_path, GOOD)))


def test_an_unknown_pool_is_refused_listing_the_known_ones(pools: dict[str, Pool]) -> None:
    (refusal,) = fit(pools, ComputeRequirements(pool="gpu-z", accelerator="A100"))  # type: ignore[misc]
    assert (refusal.code, refusal.field) == (RefusalCode.INVALID, "compute.pool")
    assert "cpu, gpu-a, gpu-b" in refusal.message


def test_too_big_for_the_named_pool_says_what_was_asked_and_the_most(
    pools: dict[str, Pool],
) -> None:
    asked = ComputeRequirements(pool="gpu-a", accelerator="A100", accelerators=9)
    (refusal,) = fit(pools, asked)  # type: ignore[misc]
    assert (refusal.code, refusal.field) == (RefusalCode.QUOTA, "compute.accelerators")
    assert "asked for 9 accelerators" in refusal.message
    assert "at most 8" in refusal.message


def test_too_big_for_every_pool_names_the_largest(pools: dict[str, Pool]) -> None:
    refusals = fit(pools, ComputeRequirements(accelerator="A100", accelerators=17))
    assert isinstance(refusals, list)
    assert [r.code for r in refusals] == [RefusalCode.QUOTA]
    assert "asked for 17" in refusals[0].message
    assert "largest A100 pool, gpu-b, allows at most 16" in refusals[0].message


def test_a_team_asking_beyond_its_quota_is_refused(pools: dict[str, Pool]) -> None:
    asked = ComputeRequirements(pool="gpu-a", accelerator="A100", accelerators=2)
    assert isinstance(fit(pools, asked, team="vision"), Pool)
    refusals = fit(pools, asked, team="other")
    assert isinstance(refusals, list)
    assert "team other's quota in gpu-a allows at most 1" in refusals[0].message


def test_no_pool_named_picks_the_cheapest_that_fits(pools: dict[str, Pool]) -> None:
    chosen = fit(pools, ComputeRequirements(accelerator="A100", accelerators=4))
    assert isinstance(chosen, Pool)
    assert chosen.name == "gpu-b"  # 2.50 < 3.10
    cpu = fit(pools, ComputeRequirements(cpus=4))
    assert isinstance(cpu, Pool)
    assert cpu.name == "cpu"  # a CPU job never lands on an accelerator pool


def test_an_accelerator_nobody_has_or_the_wrong_one_is_invalid(pools: dict[str, Pool]) -> None:
    refusals = fit(pools, ComputeRequirements(accelerator="H100", accelerators=1))
    assert isinstance(refusals, list)
    assert refusals[0].field == "compute.accelerator"
    assert "A100, CPU" in refusals[0].message
    wrong = fit(pools, ComputeRequirements(pool="cpu", accelerator="A100", accelerators=1))
    assert isinstance(wrong, list)
    assert "compute.accelerator" in [r.field for r in wrong]
    none = fit(pools, ComputeRequirements(pool="gpu-a", accelerators=0))
    assert isinstance(none, list)
    assert [r.field for r in none] == ["compute.accelerators"]
