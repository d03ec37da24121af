"""Avro schema compatibility: can data written with one schema be read with another?

Event producers and consumers upgrade at different times, so every change to an event
schema must keep old bytes readable by new code (backward), new bytes readable by old
code (forward), or both (full). This module answers that question statically, before a
schema is published, by applying the "Schema Resolution" rules of the Avro 1.11
specification the way Apache Avro Java's ``SchemaCompatibility`` does, and it reports
*every* incompatibility it finds with a path into the reader schema, so an author can fix
them all in one go instead of discovering them one broken consumer at a time.

Inputs are parsed JSON schemas, exactly as ``json.loads`` returns them for an ``.avsc``
file: a ``str`` for a primitive or a reference to a named type, a ``dict`` for a complex
type, a ``list`` for a union. A named type (record, enum, fixed) may be referred to by
full name or by a short name resolved in the enclosing namespace once it has been
defined, including from inside its own definition (recursive types).

Interpretations of the rules, where the specification leaves room or where Avro Java and
the specification differ:

* Named types match when their unqualified names are equal (specification and Avro Java),
  or when one of the reader's aliases, qualified with the reader's namespace when it has
  no dot, equals the writer's full name (Avro Java; an alias that only matches the
  writer's unqualified name is not accepted).
* A reader record field finds its writer field by its own name and then by its aliases;
  if those lead to more than one writer field the read is ambiguous and is reported,
  where Avro Java throws.
* Logical types never affect resolution: they are checked as their underlying type,
  because the specification resolves the encoded form and a reader that does not know
  a logical type must fall back to the underlying one.
* Writer enum symbols unknown to the reader are fine when the reader enum has a
  ``default`` that is one of its own symbols (Avro 1.9+ and Avro Java).
* A reader union accepts a writer type when any of its branches can read it
  (Avro Java). When none can, but some branch *matches* the writer at the top (same named
  type, same container kind, or a legal primitive promotion), the problems inside the
  first such branch are reported, with the branch index in the path, because that is
  what the author most likely needs to fix; otherwise the union is reported as lacking
  the writer's type.
* A field default is only checked for presence (a JSON ``null`` default is present),
  not for conformance to the field type: that is the schema parser's job.

Paths name locations in the *reader* schema: ``/`` is its root, ``/fields/<name>`` a
record field, ``/items`` and ``/values`` the element type of an array or map, ``/<i>``
the i-th branch of a reader union, and ``/name``, ``/size``, ``/symbols`` the attribute
of a named type that disagrees.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

__all__ = ["Incompatibility", "check_compatibility", "reader_can_read"]


@dataclass(frozen=True)
class Incompatibility:
    """One reason the reader schema cannot decode data written with the writer schema.

    Attributes:
        path: Where in the reader schema the problem is, e.g. ``/fields/meta/fields/eventId``
            or ``/items``; ``/`` is the root of the reader schema.
        message: What is wrong and why, in words meant for the schema's author.
    """

    path: str
    message: str


def reader_can_read(*, reader: Any, writer: Any) -> list[Incompatibility]:
    """Lists why data written with ``writer`` could not be decoded with ``reader``.

    Args:
        reader: The schema the consumer decodes with, as parsed JSON.
        writer: The schema the data was encoded with, as parsed JSON.

    Returns:
        Every incompatibility found, in reader-schema order; an empty list means any
        datum written with ``writer`` can be resolved into ``reader``.

    Raises:
        ValueError: When either schema is not a valid Avro schema (an unknown type
            name, a named type defined twice, a record without fields, ...), because a
            verdict about a malformed schema would be meaningless.
    """
    reader_node = _Parser().parse(reader)
    writer_node = _Parser().parse(writer)
    findings = _Checker().check(reader_node, writer_node)
    return [Incompatibility(_format_path(path), message) for path, message in findings]


def check_compatibility(
    *, old: Any, new: Any, mode: Literal["backward", "forward", "full"]
) -> list[Incompatibility]:
    """Lists why replacing schema ``old`` with ``new`` would break readers or writers.

    ``backward`` means consumers upgraded to ``new`` can still read data produced with
    ``old``; ``forward`` means consumers still on ``old`` can read data produced with
    ``new``; ``full`` means both, so producers and consumers can upgrade in any order.

    Args:
        old: The schema currently in use, as parsed JSON.
        new: The proposed schema, as parsed JSON.
        mode: Which direction(s) must keep working.

    Returns:
        Every incompatibility found; empty means the change is allowed in ``mode``.
        Paths are in the schema acting as reader (``new`` for backward, ``old`` for
        forward). In ``full`` mode each message starts with ``backward:`` or
        ``forward:``, because the two directions have different readers and the path
        alone would not say which schema it points into.

    Raises:
        ValueError: When ``mode`` is not one of the three modes or a schema is invalid.
    """
    if mode == "backward":
        return reader_can_read(reader=new, writer=old)
    if mode == "forward":
        return reader_can_read(reader=old, writer=new)
    if mode == "full":
        backward = reader_can_read(reader=new, writer=old)
        forward = reader_can_read(reader=old, writer=new)
        return [
            Incompatibility(item.path, f"{direction}: {item.message}")
            for direction, items in (("backward", backward), ("forward", forward))
            for item in items
        ]
    raise ValueError(f"unknown compatibility mode {mode!r}: use 'backward', 'forward' or 'full'")


# --------------------------------------------------------------------------------------
# Resolved schema graph
#
# The JSON form refers to named types by (possibly short) name, so whether two
# references denote the same type depends on the namespace in force where each appears.
# Parsing once into nodes in which every reference *is* the definition it names makes
# the checker independent of namespaces and turns recursive types into plain cycles.
# --------------------------------------------------------------------------------------

_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})

# Writer primitive -> reader primitives that can read it (besides itself); from the
# specification's "Schema Resolution" section.
_PROMOTIONS: Mapping[str, frozenset[str]] = {
    "int": frozenset({"long", "float", "double"}),
    "long": frozenset({"float", "double"}),
    "float": frozenset({"double"}),
    "string": frozenset({"bytes"}),
    "bytes": frozenset({"string"}),
}


@dataclass(frozen=True, eq=False)
class _Primitive:
    name: str


@dataclass(eq=False)
class _Field:
    name: str
    aliases: tuple[str, ...]
    type: _Node
    has_default: bool


@dataclass(eq=False)
class _Record:
    fullname: str
    aliases: frozenset[str]
    # Filled in after the record is registered, so fields can refer to the record itself.
    fields: list[_Field] = field(default_factory=list)


@dataclass(frozen=True, eq=False)
class _Enum:
    fullname: str
    aliases: frozenset[str]
    symbols: tuple[str, ...]
    default: str | None


@dataclass(frozen=True, eq=False)
class _Fixed:
    fullname: str
    aliases: frozenset[str]
    size: int


@dataclass(frozen=True, eq=False)
class _Array:
    items: _Node


@dataclass(frozen=True, eq=False)
class _Map:
    values: _Node


@dataclass(frozen=True, eq=False)
class _Union:
    branches: tuple[_Node, ...]


_Named: TypeAlias = "_Record | _Enum | _Fixed"
_Node: TypeAlias = "_Primitive | _Record | _Enum | _Fixed | _Array | _Map | _Union"
_Path: TypeAlias = tuple[str, ...]
_Finding: TypeAlias = tuple[_Path, str]


def _format_path(path: _Path) -> str:
    return "/" + "/".join(path)


def _short(fullname: str) -> str:
    return fullname.rsplit(".", 1)[-1]


def _kind(node: _Named) -> str:
    if isinstance(node, _Record):
        return "record"
    if isinstance(node, _Enum):
        return "enum"
    return "fixed"


def _describe(node: _Node) -> str:
    if isinstance(node, _Primitive):
        return f"'{node.name}'"
    if isinstance(node, _Record | _Enum | _Fixed):
        return f"{_kind(node)} '{node.fullname}'"
    if isinstance(node, _Array):
        return "array"
    if isinstance(node, _Map):
        return "map"
    return "union"


class _Parser:
    """Turns one JSON schema into a node graph, resolving names as Avro Java does.

    A parser holds the names defined so far in *one* schema; reader and writer each get
    their own, because the same name may denote different types on the two sides.
    """

    def __init__(self) -> None:
        self._names: dict[str, _Named] = {}

    def parse(self, schema: Any) -> _Node:
        return self._parse(schema, "", "/")

    def _parse(self, schema: Any, namespace: str, where: str) -> _Node:
        if isinstance(schema, str):
            if schema in _PRIMITIVES:
                return _Primitive(schema)
            return self._lookup(schema, namespace, where)
        if isinstance(schema, list):
            branches: list[_Node] = []
            for index, branch in enumerate(schema):
                node = self._parse(branch, namespace, f"{where}{index}/")
                if isinstance(node, _Union):
                    raise ValueError(f"invalid Avro schema at {where}: unions cannot nest")
                branches.append(node)
            return _Union(tuple(branches))
        if isinstance(schema, dict):
            return self._parse_object(schema, namespace, where)
        raise ValueError(
            f"invalid Avro schema at {where}: expected a string, object or array, "
            f"got {type(schema).__name__}"
        )

    def _parse_object(self, schema: dict[str, Any], namespace: str, where: str) -> _Node:
        kind = schema.get("type")
        if isinstance(kind, dict | list):
            # {"type": {...}} wraps another schema; only its content matters.
            return self._parse(kind, namespace, where)
        if not isinstance(kind, str):
            raise ValueError(f"invalid Avro schema at {where}: object without a string 'type'")
        if kind in ("record", "error"):
            return self._parse_record(schema, namespace, where)
        if kind == "enum":
            return self._parse_enum(schema, namespace, where)
        if kind == "fixed":
            return self._parse_fixed(schema, namespace, where)
        if kind == "array":
            if "items" not in schema:
                raise ValueError(f"invalid Avro schema at {where}: array without 'items'")
            return _Array(self._parse(schema["items"], namespace, f"{where}items/"))
        if kind == "map":
            if "values" not in schema:
                raise ValueError(f"invalid Avro schema at {where}: map without 'values'")
            return _Map(self._parse(schema["values"], namespace, f"{where}values/"))
        # A primitive, possibly with a logicalType (ignored on purpose, see the module
        # docstring), or a reference to a named type written as {"type": "Name"}.
        return self._parse(kind, namespace, where)

    def _name(self, schema: dict[str, Any], namespace: str, where: str) -> tuple[str, str]:
        """Returns the full name and the namespace a named type defines."""
        name = schema.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError(f"invalid Avro schema at {where}: named type without a 'name'")
        if "." in name:
            return name, name.rsplit(".", 1)[0]
        own = schema.get("namespace", namespace)
        if own is None:
            own = ""
        if not isinstance(own, str):
            raise ValueError(f"invalid Avro schema at {where}: 'namespace' must be a string")
        return (f"{own}.{name}" if own else name), own

    @staticmethod
    def _aliases(schema: dict[str, Any], namespace: str, where: str) -> frozenset[str]:
        aliases = schema.get("aliases", [])
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            raise ValueError(f"invalid Avro schema at {where}: 'aliases' must list strings")
        return frozenset(a if "." in a or not namespace else f"{namespace}.{a}" for a in aliases)

    def _register(self, fullname: str, node: _Named, where: str) -> None:
        if fullname in _PRIMITIVES or _short(fullname) in _PRIMITIVES:
            raise ValueError(f"invalid Avro schema at {where}: cannot redefine '{fullname}'")
        if fullname in self._names:
            raise ValueError(f"invalid Avro schema at {where}: '{fullname}' is defined twice")
        self._names[fullname] = node

    def _lookup(self, name: str, namespace: str, where: str) -> _Named:
        # Like Avro Java: a dotted name is full; a short one is tried in the enclosing
        # namespace first and then in the null namespace.
        candidates = [name] if "." in name or not namespace else [f"{namespace}.{name}", name]
        for candidate in candidates:
            if candidate in self._names:
                return self._names[candidate]
        raise ValueError(f"invalid Avro schema at {where}: '{name}' is not a defined type name")

    def _parse_record(self, schema: dict[str, Any], namespace: str, where: str) -> _Record:
        fullname, own = self._name(schema, namespace, where)
        record = _Record(fullname, self._aliases(schema, own, where))
        self._register(fullname, record, where)
        fields = schema.get("fields")
        if not isinstance(fields, list):
            raise ValueError(f"invalid Avro schema at {where}: record without a 'fields' list")
        seen: set[str] = set()
        for spec in fields:
            if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
                raise ValueError(f"invalid Avro schema at {where}: field without a 'name'")
            name: str = spec["name"]
            if name in seen:
                raise ValueError(f"invalid Avro schema at {where}: field '{name}' repeats")
            seen.add(name)
            field_where = f"{where}fields/{name}/"
            if "type" not in spec:
                raise ValueError(f"invalid Avro schema at {field_where}: field without 'type'")
            aliases = spec.get("aliases", [])
            if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
                raise ValueError(f"invalid Avro schema at {field_where}: bad 'aliases'")
            record.fields.append(
                _Field(
                    name=name,
                    aliases=tuple(aliases),
                    type=self._parse(spec["type"], own, field_where),
                    # Presence is what matters: a JSON null default is a real default.
                    has_default="default" in spec,
                )
            )
        return record

    def _parse_enum(self, schema: dict[str, Any], namespace: str, where: str) -> _Enum:
        fullname, own = self._name(schema, namespace, where)
        symbols = schema.get("symbols")
        if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
            raise ValueError(f"invalid Avro schema at {where}: enum without a 'symbols' list")
        default = schema.get("default")
        if default is not None and not isinstance(default, str):
            raise ValueError(f"invalid Avro schema at {where}: enum 'default' must be a string")
        node = _Enum(fullname, self._aliases(schema, own, where), tuple(symbols), default)
        self._register(fullname, node, where)
        return node

    def _parse_fixed(self, schema: dict[str, Any], namespace: str, where: str) -> _Fixed:
        fullname, own = self._name(schema, namespace, where)
        size = schema.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ValueError(f"invalid Avro schema at {where}: fixed without a valid 'size'")
        node = _Fixed(fullname, self._aliases(schema, own, where), size)
        self._register(fullname, node, where)
        return node


# --------------------------------------------------------------------------------------
# Checker
# --------------------------------------------------------------------------------------


def _prefixed(segments: Sequence[str], findings: Iterable[_Finding]) -> list[_Finding]:
    head = tuple(segments)
    return [(head + path, message) for path, message in findings]


def _names_match(reader: _Named, writer: _Named) -> bool:
    # Specification: same unqualified name. Avro Java additionally lets a reader alias
    # (a full name) name the writer's full name.
    return _short(reader.fullname) == _short(writer.fullname) or writer.fullname in reader.aliases


def _top_level_match(reader: _Node, writer: _Node) -> bool:
    """Whether ``reader`` is the kind of schema that the specification pairs with ``writer``.

    This is the specification's "match" test used to pick a union branch: it looks only
    at the outermost type, not inside records, arrays or maps.
    """
    if isinstance(reader, _Primitive) and isinstance(writer, _Primitive):
        return reader.name == writer.name or reader.name in _PROMOTIONS.get(writer.name, ())
    if isinstance(reader, _Record) and isinstance(writer, _Record):
        return _names_match(reader, writer)
    if isinstance(reader, _Enum) and isinstance(writer, _Enum):
        return _names_match(reader, writer)
    if isinstance(reader, _Fixed) and isinstance(writer, _Fixed):
        return _names_match(reader, writer)
    if isinstance(reader, _Array) and isinstance(writer, _Array):
        return True
    return isinstance(reader, _Map) and isinstance(writer, _Map)


class _Checker:
    """Resolves one reader graph against one writer graph.

    Findings are computed with paths *relative* to the pair being checked and prefixed by
    the caller, so the result for a pair of records does not depend on where the pair
    was met and can be reused when the same pair turns up elsewhere.

    Recursive records would make a naive walk loop forever. A pair of records already
    being checked higher up is assumed compatible when met again: any real problem in
    it is reported where the pair was first met, so the assumption cannot hide an
    incompatibility (this is the greatest-fixpoint reading Avro Java's memo also uses).
    """

    def __init__(self) -> None:
        self._in_progress: set[tuple[str, str]] = set()
        self._assumed: set[tuple[str, str]] = set()
        self._done: dict[tuple[str, str], list[_Finding]] = {}

    def check(self, reader: _Node, writer: _Node) -> list[_Finding]:
        if isinstance(writer, _Union):
            return self._check_writer_union(reader, writer)
        if isinstance(reader, _Union):
            return self._check_reader_union(reader, writer)
        if isinstance(reader, _Primitive) and isinstance(writer, _Primitive):
            if _top_level_match(reader, writer):
                return []
            return [
                ((), f"writer type {_describe(writer)} cannot be promoted to {_describe(reader)}")
            ]
        if isinstance(reader, _Record) and isinstance(writer, _Record):
            return self._check_record_pair(reader, writer)
        if isinstance(reader, _Enum) and isinstance(writer, _Enum):
            return self._check_enum(reader, writer)
        if isinstance(reader, _Fixed) and isinstance(writer, _Fixed):
            return self._check_fixed(reader, writer)
        if isinstance(reader, _Array) and isinstance(writer, _Array):
            return _prefixed(["items"], self.check(reader.items, writer.items))
        if isinstance(reader, _Map) and isinstance(writer, _Map):
            return _prefixed(["values"], self.check(reader.values, writer.values))
        return [
            ((), f"reader type {_describe(reader)} cannot read writer type {_describe(writer)}")
        ]

    def _check_writer_union(self, reader: _Node, writer: _Union) -> list[_Finding]:
        # The writer may have picked any branch for any datum, so each must be readable.
        findings: list[_Finding] = []
        for index, branch in enumerate(writer.branches):
            for path, message in self.check(reader, branch):
                if not path:
                    message = f"writer union branch {index}: {message}"
                findings.append((path, message))
        return findings

    def _check_reader_union(self, reader: _Union, writer: _Node) -> list[_Finding]:
        first_match: tuple[int, list[_Finding]] | None = None
        for index, branch in enumerate(reader.branches):
            if not _top_level_match(branch, writer):
                continue
            findings = self.check(branch, writer)
            if not findings:
                return []
            if first_match is None:
                first_match = (index, findings)
        if first_match is not None:
            index, findings = first_match
            return _prefixed([str(index)], findings)
        return [((), f"reader union has no branch that can read writer type {_describe(writer)}")]

    def _check_record_pair(self, reader: _Record, writer: _Record) -> list[_Finding]:
        key = (reader.fullname, writer.fullname)
        if key in self._done:
            return self._done[key]
        if key in self._in_progress:
            self._assumed.add(key)
            return []
        self._in_progress.add(key)
        outer_assumed, self._assumed = self._assumed, set()
        try:
            findings = self._check_record(reader, writer)
        finally:
            self._in_progress.discard(key)
        # Only a result that leans on no *enclosing* pair's assumption is final; one that
        # leaned on its own is exact, as the class docstring explains.
        leaned_on = self._assumed - {key}
        self._assumed = outer_assumed | leaned_on
        if not leaned_on:
            self._done[key] = findings
        return findings

    def _check_record(self, reader: _Record, writer: _Record) -> list[_Finding]:
        if not _names_match(reader, writer):
            return [(("name",), _name_mismatch("record", reader, writer))]
        by_name = {f.name: f for f in writer.fields}
        findings: list[_Finding] = []
        for reader_field in reader.fields:
            where = ("fields", reader_field.name)
            matches: list[_Field] = []
            for name in (reader_field.name, *reader_field.aliases):
                found = by_name.get(name)
                if found is not None and found not in matches:
                    matches.append(found)
            if not matches:
                # Writer fields the reader lacks are skipped; reader fields the writer
                # lacks can only be filled from the reader's default.
                if not reader_field.has_default:
                    findings.append(
                        (
                            where,
                            f"reader field '{reader_field.name}' has no default and is "
                            "missing from the writer",
                        )
                    )
                continue
            if len(matches) > 1:
                names = ", ".join(f"'{m.name}'" for m in matches)
                findings.append(
                    (
                        where,
                        f"reader field '{reader_field.name}' matches several writer fields "
                        f"({names}) by name and aliases, so the read is ambiguous",
                    )
                )
                continue
            findings.extend(_prefixed(where, self.check(reader_field.type, matches[0].type)))
        return findings

    @staticmethod
    def _check_enum(reader: _Enum, writer: _Enum) -> list[_Finding]:
        if not _names_match(reader, writer):
            return [(("name",), _name_mismatch("enum", reader, writer))]
        known = set(reader.symbols)
        missing = [s for s in writer.symbols if s not in known]
        if not missing or (reader.default is not None and reader.default in known):
            return []
        return [
            (
                ("symbols",),
                f"writer enum symbols {missing} are missing from reader enum "
                f"'{reader.fullname}', which has no default to read them as",
            )
        ]

    @staticmethod
    def _check_fixed(reader: _Fixed, writer: _Fixed) -> list[_Finding]:
        findings: list[_Finding] = []
        if not _names_match(reader, writer):
            findings.append((("name",), _name_mismatch("fixed", reader, writer)))
        if reader.size != writer.size:
            findings.append(
                (
                    ("size",),
                    f"reader fixed '{reader.fullname}' has size {reader.size} but writer "
                    f"fixed '{writer.fullname}' has size {writer.size}",
                )
            )
        return findings


def _name_mismatch(kind: str, reader: _Named, writer: _Named) -> str:
    return (
        f"reader {kind} '{reader.fullname}' cannot read writer {kind} '{writer.fullname}': "
        "their unqualified names differ and no reader alias names the writer"
    )
