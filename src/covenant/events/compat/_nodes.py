"""The resolved schema graph that reader and writer schemas are parsed into.

The JSON form refers to named types by (possibly short) name, so whether two references
denote the same type depends on the namespace in force where each appears. Parsing once
into nodes in which every reference *is* the definition it names makes the checker
independent of namespaces and turns recursive types into plain cycles.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeAlias

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})

# Writer primitive -> reader primitives that can read it (besides itself); from the
# specification's "Schema Resolution" section.
PROMOTIONS: Mapping[str, frozenset[str]] = {
    "int": frozenset({"long", "float", "double"}),
    "long": frozenset({"float", "double"}),
    "float": frozenset({"double"}),
    "string": frozenset({"bytes"}),
    "bytes": frozenset({"string"}),
}


@dataclass(frozen=True, eq=False)
class Primitive:
    name: str


@dataclass(eq=False)
class Field:
    name: str
    aliases: tuple[str, ...]
    type: Node
    has_default: bool


@dataclass(eq=False)
class Record:
    fullname: str
    aliases: frozenset[str]
    # Filled in after the record is registered, so fields can refer to the record itself.
    fields: list[Field] = field(default_factory=list)


@dataclass(frozen=True, eq=False)
class Enum:
    fullname: str
    aliases: frozenset[str]
    symbols: tuple[str, ...]
    default: str | None


@dataclass(frozen=True, eq=False)
class Fixed:
    fullname: str
    aliases: frozenset[str]
    size: int


@dataclass(frozen=True, eq=False)
class Array:
    items: Node


@dataclass(frozen=True, eq=False)
class Map:
    values: Node


@dataclass(frozen=True, eq=False)
class Union:
    branches: tuple[Node, ...]


Named: TypeAlias = "Record | Enum | Fixed"
Node: TypeAlias = "Primitive | Record | Enum | Fixed | Array | Map | Union"
Path: TypeAlias = tuple[str, ...]
Finding: TypeAlias = tuple[Path, str]


def format_path(path: Path) -> str:
    return "/" + "/".join(path)


def short(fullname: str) -> str:
    return fullname.rsplit(".", 1)[-1]


def _kind(node: Named) -> str:
    if isinstance(node, Record):
        return "record"
    if isinstance(node, Enum):
        return "enum"
    return "fixed"


def describe(node: Node) -> str:
    if isinstance(node, Primitive):
        return f"'{node.name}'"
    if isinstance(node, Record | Enum | Fixed):
        return f"{_kind(node)} '{node.fullname}'"
    if isinstance(node, Array):
        return "array"
    if isinstance(node, Map):
        return "map"
    return "union"
