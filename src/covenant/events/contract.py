"""The ``.avsc`` contract files: where they are, writing them, checking them.

``schemas/avro/current/`` is generated from the pydantic models; ``schemas/avro/
released/`` is the snapshot of the last released version, committed by hand at
release time. CI fails when ``current`` is stale or breaks compatibility with
``released`` in either direction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from covenant.events.avro import avro_schema
from covenant.events.base import Message
from covenant.events.catalog import MESSAGE_TYPES
from covenant.events.codec import Codec
from covenant.events.compat import Incompatibility, check_compatibility


def schema_root() -> Path:
    """The ``schemas/avro`` folder: inside an installed wheel, or in the source tree."""
    packaged = Path(str(resources.files("covenant"))) / "_schemas" / "avro"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "schemas" / "avro"


def render(schema: dict[str, Any]) -> str:
    """The exact text of a committed ``.avsc`` file."""
    return json.dumps(schema, indent=2) + "\n"


def generated() -> dict[str, str]:
    """File name → text of every current schema, as the models define them."""
    out = {}
    for model in MESSAGE_TYPES:
        schema = avro_schema(model)
        out[f"{schema['name']}.avsc"] = render(schema)
    return out


def write_current(root: Path) -> list[Path]:
    """Regenerate ``current/``; returns the files that changed."""
    folder = root / "current"
    folder.mkdir(parents=True, exist_ok=True)
    changed = []
    wanted = generated()
    for stale in folder.glob("*.avsc"):
        if stale.name not in wanted:
            stale.unlink()
            changed.append(stale)
    for name, text in wanted.items():
        path = folder / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            changed.append(path)
    return changed


def load(folder: Path) -> dict[str, dict[str, Any]]:
    """Full name → schema of every ``.avsc`` in ``folder``."""
    out = {}
    for path in sorted(folder.glob("*.avsc")):
        schema = json.loads(path.read_text())
        out[schema["name"]] = schema
    return out


@dataclass(frozen=True)
class Finding:
    """One problem with the contract files."""

    schema: str
    problem: str


def check(root: Path) -> list[Finding]:
    """Stale generated files, and incompatibilities with the released snapshot."""
    findings = []
    on_disk = {p.name: p.read_text() for p in (root / "current").glob("*.avsc")}
    for name, text in generated().items():
        if on_disk.get(name) != text:
            findings.append(Finding(name, "stale or missing; run 'covenant schemas write'"))
    for name in set(on_disk) - set(generated()):
        findings.append(Finding(name, "no model defines it any more; run 'covenant schemas write'"))
    current = {json.loads(t)["name"]: json.loads(t) for t in generated().values()}
    for name, old in load(root / "released").items():
        new = current.get(name)
        if new is None:
            findings.append(Finding(name, "released schema was removed; readers still need it"))
            continue
        problems: list[Incompatibility] = check_compatibility(old=old, new=new, mode="full")
        findings.extend(Finding(name, f"{p.path}: {p.message}") for p in problems)
    return findings


def default_codec(types: Sequence[type[Message]] = MESSAGE_TYPES) -> Codec:
    """The one codec factory: the current models (all of them, or ``types``),
    plus the released snapshot's writer schemas so records written before an
    upgrade still decode. Every process builds its codec here."""
    released = schema_root() / "released"
    historical = load(released).values() if released.is_dir() else ()
    return Codec(tuple(types), historical=historical)
