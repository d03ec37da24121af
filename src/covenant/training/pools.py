"""Compute pools: what each pool holds, what it costs, and each team's share.

Pools are declared in one TOML file (``COVENANT_POOLS``; ``deploy/pools.toml`` is
the example), so the allocator, the training worker and Finance read one truth.
Without a file there is one pool, ``cpu-local``, sized to this machine, so
``pip install`` and one command still train something.

The unit a pool charges by is an *accelerator-hour* on a pool with an accelerator
and a *CPU-hour* on a pool without one (``unit_hours`` in
``covenant.training.accounting``). Rates are decimal strings in the file, never
floats, because a rate is money.

``fit`` picks the pool a job runs on. Refusals of what can never fit (bigger than
any pool with the accelerator asked for) use the ``quota`` code, the code for "a
quota or capacity limit says no"; a pool or accelerator nobody declared is
``invalid``. Quotas are per team and per pool: a pool without a ``quotas`` table
lets every team use all of it; with one, a team not listed gets the ``"*"`` entry,
and without that entry no share at all.
"""

from __future__ import annotations

import os
import platform
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from covenant.errors import ConfigError
from covenant.events.refusals import Refusal, RefusalCode
from covenant.events.training import ComputeRequirements

DEFAULT_POOL = "cpu-local"
DEFAULT_CPU_RATE = Decimal("0.01")  # per CPU-hour: cheap, but not free, so reports show use
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_QUOTA_KEYS = frozenset({"accelerators", "cpus", "memory_gb"})
_POOL_KEYS = _QUOTA_KEYS | {"accelerator", "hardware_class", "cost_rate", "currency", "quotas"}
INVALID, QUOTA = RefusalCode.INVALID, RefusalCode.QUOTA


@dataclass(frozen=True)
class Quota:
    """The most one team may hold in one pool at once; None: up to the pool's capacity."""

    accelerators: int | None = None
    cpus: float | None = None
    memory_gb: float | None = None


@dataclass(frozen=True)
class Pool:
    """One pool of machines.

    Attributes:
        name: what jobs name it by (``compute.pool``); also the allocation key.
        accelerator: e.g. ``A100``; None for a CPU pool.
        accelerators, cpus, memory_gb: what the whole pool holds.
        hardware_class: what a run on it is reproducible per (``gpu-A100``).
        cost_rate: price per unit-hour (accelerator-hour, or CPU-hour without one).
        currency: ISO 4217 code of ``cost_rate``.
        quotas: team -> share; ``"*"`` is every team not listed.
        limited: False when the pool declared no quotas (every team may use all).
    """

    name: str
    accelerator: str | None
    accelerators: int
    cpus: float
    memory_gb: float
    hardware_class: str
    cost_rate: Decimal
    currency: str = "USD"
    quotas: Mapping[str, Quota] = field(default_factory=dict)
    limited: bool = False

    def quota_for(self, team: str) -> Quota | None:
        """``team``'s share of this pool; None when it has none."""
        if not self.limited:
            return Quota()
        return self.quotas.get(team, self.quotas.get("*"))

    def serves(self, accelerator: str | None) -> bool:
        """Whether a job asking for ``accelerator`` (None: CPU only) belongs here.

        A CPU-only job never lands on an accelerator pool: it would hold nothing
        that pool charges for and crowd out the jobs that need it.
        """
        if accelerator is None:
            return self.accelerator is None
        return self.accelerator is not None and self.accelerator.casefold() == (
            accelerator.casefold()
        )


Pools = Mapping[str, Pool]


def default_pools(cpu_count: int | None = None, memory_gb: float | None = None) -> Pools:
    """The built-in pools when no file is configured: ``cpu-local``, this machine."""
    cpus = cpu_count or os.cpu_count() or 1
    memory = memory_gb if memory_gb is not None else _machine_memory_gb()
    pool = Pool(
        name=DEFAULT_POOL,
        accelerator=None,
        accelerators=0,
        cpus=float(cpus),
        memory_gb=memory,
        # What the launcher records for a run here (``record.hardware_class``), so
        # the allocation and the run record name the same class.
        hardware_class=f"cpu-{platform.machine() or 'unknown'}",
        cost_rate=DEFAULT_CPU_RATE,
        quotas={"*": Quota(accelerators=0, cpus=float(cpus), memory_gb=memory)},
        limited=True,
    )
    return {pool.name: pool}


def _machine_memory_gb() -> float:
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not POSIX: assume a small machine
        return 4.0
    return float(max(1, pages * size // 2**30))


def pools_for(path: Path | None) -> Pools:
    """The pools of the file at ``path`` (``Settings.pools_path``), else the default."""
    return default_pools() if path is None else load_pools(path)


def load_pools(path: Path) -> Pools:
    """Read and check a pools file.

    Raises:
        ConfigError: the file is missing or not TOML, or a pool is wrong; the
            message names the file, the pool and the field.
    """
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the pools file: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return parse_pools(document, source=str(path))


def parse_pools(document: Mapping[str, Any], *, source: str = "<pools>") -> Pools:
    """The pools of a parsed TOML document (``load_pools`` without the file)."""
    tables = document.get("pools")
    if not isinstance(tables, dict) or not tables:
        raise ConfigError(f"{source}: declare at least one pool as a [pools.<name>] table")
    return {name: _pool(name, table, source) for name, table in tables.items()}


class _Where:
    """Formats errors as ``file: pool 'x': field: what is wrong``."""

    def __init__(self, source: str, pool: str) -> None:
        self.prefix = f"{source}: pool {pool!r}"

    def error(self, name: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.prefix}: {name}: {problem}")


def _pool(name: str, table: Any, source: str) -> Pool:
    where = _Where(source, name)
    if not _NAME.match(name):
        raise where.error("name", "use 1-63 lowercase letters, digits, '.', '_' or '-'")
    if not isinstance(table, dict):
        raise where.error("name", "must be a table ([pools.<name>])")
    unknown = sorted(set(table) - _POOL_KEYS)
    if unknown:
        raise where.error(unknown[0], f"unknown field; known: {', '.join(sorted(_POOL_KEYS))}")
    accelerator = table.get("accelerator")
    if accelerator is not None and (not isinstance(accelerator, str) or not accelerator.strip()):
        raise where.error("accelerator", 'give a name such as "A100", or leave it out for CPU')
    accelerators = _number(where, table, "accelerators", default=0)
    if accelerator is None and accelerators:
        raise where.error("accelerators", "a pool without an accelerator holds none")
    if accelerator is not None and not accelerators:
        raise where.error("accelerators", f"a pool of {accelerator} must hold at least one")
    hardware_class = table.get("hardware_class")
    if not isinstance(hardware_class, str) or not hardware_class.strip():
        raise where.error("hardware_class", "required: what runs are reproducible per")
    quotas = table.get("quotas")
    if quotas is not None and not isinstance(quotas, dict):
        raise where.error("quotas", "must be a table of team = {accelerators=…, cpus=…}")
    return Pool(
        name=name,
        accelerator=accelerator,
        accelerators=int(accelerators),
        cpus=float(_number(where, table, "cpus")),
        memory_gb=float(_number(where, table, "memory_gb")),
        hardware_class=hardware_class,
        cost_rate=_rate(where, table.get("cost_rate")),
        currency=_currency(where, table.get("currency", "USD")),
        quotas={team: _quota(where, team, q) for team, q in (quotas or {}).items()},
        limited=quotas is not None,
    )


def _number(
    where: _Where, table: Mapping[str, Any], name: str, *, prefix: str = "", default: Any = None
) -> float:
    """A count (whole for accelerators) of at least 0; ``prefix`` names its table."""
    value = table.get(name, default)
    kind = "a whole number" if name == "accelerators" else "a number"
    if value is None:
        raise where.error(prefix + name, f"required: {kind} of at least 0")
    wrong = isinstance(value, bool) or not isinstance(value, int | float)
    if wrong or value < 0 or (name == "accelerators" and not isinstance(value, int)):
        raise where.error(prefix + name, f"{value!r} is not {kind} of at least 0")
    return float(value)


def _rate(where: _Where, value: Any) -> Decimal:
    if not isinstance(value, str):
        raise where.error(
            "cost_rate", f'{value!r}: give the price per unit-hour as a string, e.g. "2.93"'
        )
    try:
        rate = Decimal(value)
    except InvalidOperation:
        rate = Decimal("NaN")
    if not rate.is_finite() or rate < 0:
        raise where.error("cost_rate", f"{value!r} is not a decimal price of at least 0")
    return rate


def _currency(where: _Where, value: Any) -> str:
    if not isinstance(value, str) or not _CURRENCY.match(value):
        raise where.error("currency", f'{value!r} is not a three-letter code such as "USD"')
    return value


def _quota(where: _Where, team: str, value: Any) -> Quota:
    name = f"quotas.{team}"
    if not isinstance(value, dict):
        raise where.error(name, "must be an inline table, e.g. {accelerators = 2, cpus = 16}")
    unknown = sorted(set(value) - _QUOTA_KEYS)
    if unknown:
        known = ", ".join(sorted(_QUOTA_KEYS))
        raise where.error(f"{name}.{unknown[0]}", f"unknown; known: {known}")
    got = {k: _number(where, value, k, prefix=f"{name}.") for k in value}
    accelerators = got.get("accelerators")
    return Quota(
        None if accelerators is None else int(accelerators), got.get("cpus"), got.get("memory_gb")
    )


def fit(
    pools: Pools, requirements: ComputeRequirements, *, team: str | None = None
) -> Pool | list[Refusal]:
    """The pool a job with ``requirements`` runs on, or why none can take it.

    A named pool must exist, serve the accelerator asked for and be big enough.
    With no pool named, the cheapest pool (lowest ``cost_rate``; then the name,
    so the choice is stable) that serves the accelerator and is big enough wins:
    the job's units are the same on every such pool, so the lowest rate is the
    lowest cost. Rates in different currencies are compared as numbers, so keep
    pools that compete for one job in one currency. With ``team``, a job bigger
    than that team's share of the pool is refused too, since it could never be
    granted and would wait forever.
    """
    if requirements.pool is not None:
        pool = pools.get(requirements.pool)
        if pool is None:
            message = f"unknown pool {requirements.pool!r}; known: {', '.join(sorted(pools))}"
            return [Refusal(code=INVALID, field="compute.pool", message=message)]
        return too_big(pool, requirements, team=team) or pool
    serving = [p for p in pools.values() if p.serves(requirements.accelerator)]
    if not serving:
        kinds = sorted({p.accelerator or "CPU" for p in pools.values()})
        wanted = requirements.accelerator or "CPU-only machines"
        message = f"no pool has {wanted}; pools have: {', '.join(kinds)}"
        return [Refusal(code=INVALID, field="compute.accelerator", message=message)]
    fitting = [p for p in serving if not too_big(p, requirements, team=team)]
    if fitting:
        return min(fitting, key=lambda p: (p.cost_rate, p.name))
    largest = max(serving, key=lambda p: (p.accelerators, p.cpus, p.memory_gb, p.name))
    return too_big(largest, requirements, team=team, largest=True)


def too_big(
    pool: Pool,
    requirements: ComputeRequirements,
    *,
    team: str | None = None,
    largest: bool = False,
) -> list[Refusal]:
    """Why ``requirements`` can never be held in ``pool`` (by ``team``); empty if they can.

    ``largest`` words the limits as those of the largest pool that serves the job,
    for a job that named no pool.
    """
    out = _Refusals()
    asked = requirements.accelerator
    if asked is not None and not pool.serves(asked):
        have = pool.accelerator or "no accelerators"
        out.add(INVALID, "compute.accelerator", f"pool {pool.name} has {have}, not {asked}")
    if pool.accelerator is not None and requirements.accelerators < 1:
        out.add(
            INVALID,
            "compute.accelerators",
            f"pool {pool.name} is a {pool.accelerator} "
            "pool; ask for at least one accelerator, or use a CPU pool",
        )
    asks = (requirements.accelerators, requirements.cpus, requirements.memory_gb)
    names = ("accelerators", "cpus", "memoryGb")
    for name, value in zip(names, asks, strict=True):
        if value < 0:
            out.add(INVALID, f"compute.{name}", f"{name} is negative")
    kind = pool.accelerator or "CPU"
    where = f"the largest {kind} pool, {pool.name}," if largest else f"pool {pool.name}"
    limits = [(where, Quota(pool.accelerators, pool.cpus, pool.memory_gb))]
    share = Quota() if team is None else pool.quota_for(team)
    if share is None:
        out.add(QUOTA, "team", f"team {team!r} has no quota in pool {pool.name}")
    elif team is not None:
        limits.append((f"team {team}'s quota in {pool.name}", share))
    for label, limit in limits:
        for name, value, most in zip(
            names, asks, (limit.accelerators, limit.cpus, limit.memory_gb), strict=True
        ):
            if most is not None and value > most:
                out.add(
                    QUOTA,
                    f"compute.{name}",
                    f"asked for {value:g} {name}; {label} allows at most {most:g}",
                )
    return list(out)


class _Refusals(list[Refusal]):
    """A list that reads like the rule it collects: ``out.add(code, field, text)``."""

    def add(self, code: RefusalCode, field: str, message: str) -> None:
        self.append(Refusal(code=code, field=field, message=message))
