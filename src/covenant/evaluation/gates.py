"""Evaluation gates: per-family thresholds from ``gates.toml`` and the pure verdict.

The file's format is documented in its header (``covenant/policy/gates.toml``). A
family's section is merged over ``[default]``; the verdict is one ``GateVerdict``
per gate in the merged section, and an evaluation passes when every one does. A
gate whose figure was not computed fails (value NaN is never written: such a gate
reports value -1 and passed false), so gates cannot be dodged by asking for less.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from covenant.errors import ConfigError
from covenant.events.evaluation import FairnessFigures, GateVerdict, SafetyResult, TaskMetrics

BOUNDS = (
    "min_accuracy",
    "min_f1_macro",
    "max_ece",
    "max_demographic_parity_difference",
    "max_equalized_odds_difference",
)
KEYS = (*BOUNDS, "require_safety_checks")
MISSING = -1.0


@dataclass(frozen=True)
class GateBook:
    """The gates of every family, as loaded.

    Attributes:
        version: the file's ``version``.
        default: the ``[default]`` thresholds.
        families: family -> its own thresholds (before merging).
    """

    version: str
    default: Mapping[str, float | bool]
    families: Mapping[str, Mapping[str, float | bool]] = field(default_factory=dict)

    def gates_for(self, family: str) -> tuple[str, dict[str, float | bool]]:
        """The section name used (the family or ``default``) and its merged gates."""
        own = self.families.get(family)
        if own is None:
            return "default", dict(self.default)
        return family, {**self.default, **own}


def built_in_gates() -> Path:
    """The gates file shipped with Covenant."""
    return Path(str(resources.files("covenant.policy"))) / "gates.toml"


def load_gates(path: Path | None = None) -> GateBook:
    """Read and check a gates file (the built-in one unless told).

    Raises:
        ConfigError: the file is missing, not TOML, or has an unknown key or a value
            of the wrong type, naming the file and the key.
    """
    where = path or built_in_gates()
    try:
        data = tomllib.loads(where.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{where}: cannot read the gates file: {exc}") from exc
    version = data.get("version")
    if not isinstance(version, str) or not version:
        raise ConfigError(f"{where}: version must be a non-empty string")
    families = data.get("families", {})
    if not isinstance(families, dict):
        raise ConfigError(f"{where}: [families] must be a table of tables")
    return GateBook(
        version=version,
        default=_section(data.get("default", {}), f"{where} [default]"),
        families={
            name: _section(table, f"{where} [families.{name}]") for name, table in families.items()
        },
    )


def _section(table: object, where: str) -> dict[str, float | bool]:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: must be a table")
    out: dict[str, float | bool] = {}
    for key, value in table.items():
        if key not in KEYS:
            raise ConfigError(f"{where}: unknown gate {key!r}; known: {', '.join(KEYS)}")
        if key == "require_safety_checks":
            if not isinstance(value, bool):
                raise ConfigError(f"{where}: {key} must be true or false")
        elif isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: {key} must be a number")
        out[key] = value if isinstance(value, bool) else float(value)
    return out


def decide(
    gates: Mapping[str, float | bool],
    *,
    task: TaskMetrics,
    fairness: list[FairnessFigures],
    safety: list[SafetyResult],
) -> list[GateVerdict]:
    """One verdict per gate, in ``KEYS`` order; pure."""
    verdicts = []
    calibration = task.calibration
    figures: dict[str, float | None] = {
        "min_accuracy": task.accuracy,
        "min_f1_macro": task.f1_macro,
        "max_ece": calibration.ece if calibration else None,
        "max_demographic_parity_difference": max(
            (f.demographic_parity_difference for f in fairness), default=None
        ),
        "max_equalized_odds_difference": max(
            (f.equalized_odds_difference for f in fairness), default=None
        ),
    }
    for name in BOUNDS:
        if name not in gates:
            continue
        bound = float(gates[name])
        value = figures[name]
        if value is None:
            verdicts.append(GateVerdict(name=name, threshold=bound, value=MISSING, passed=False))
            continue
        ok = value >= bound if name.startswith("min_") else value <= bound
        verdicts.append(GateVerdict(name=name, threshold=bound, value=value, passed=ok))
    if gates.get("require_safety_checks"):
        failed = sum(1 for s in safety if not s.passed)
        verdicts.append(
            GateVerdict(
                name="safety_checks_passed", threshold=0.0, value=float(failed), passed=failed == 0
            )
        )
    return verdicts
