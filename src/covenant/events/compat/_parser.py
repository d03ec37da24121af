"""JSON Avro schemas into node graphs, resolving names the way Avro Java does."""

from __future__ import annotations

from typing import Any

from covenant.events.compat._nodes import (
    PRIMITIVES,
    Array,
    Enum,
    Field,
    Fixed,
    Map,
    Named,
    Node,
    Primitive,
    Record,
    Union,
    short,
)


class Parser:
    """Turns one JSON schema into a node graph, resolving names as Avro Java does.

    A parser holds the names defined so far in *one* schema; reader and writer each get
    their own, because the same name may denote different types on the two sides.
    """

    def __init__(self) -> None:
        self._names: dict[str, Named] = {}

    def parse(self, schema: Any) -> Node:
        return self._parse(schema, "", "/")

    def _parse(self, schema: Any, namespace: str, where: str) -> Node:
        if isinstance(schema, str):
            if schema in PRIMITIVES:
                return Primitive(schema)
            return self._lookup(schema, namespace, where)
        if isinstance(schema, list):
            branches: list[Node] = []
            for index, branch in enumerate(schema):
                node = self._parse(branch, namespace, f"{where}{index}/")
                if isinstance(node, Union):
                    raise ValueError(f"invalid Avro schema at {where}: unions cannot nest")
                branches.append(node)
            return Union(tuple(branches))
        if isinstance(schema, dict):
            return self._parse_object(schema, namespace, where)
        raise ValueError(
            f"invalid Avro schema at {where}: expected a string, object or array, "
            f"got {type(schema).__name__}"
        )

    def _parse_object(self, schema: dict[str, Any], namespace: str, where: str) -> Node:
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
            return Array(self._parse(schema["items"], namespace, f"{where}items/"))
        if kind == "map":
            if "values" not in schema:
                raise ValueError(f"invalid Avro schema at {where}: map without 'values'")
            return Map(self._parse(schema["values"], namespace, f"{where}values/"))
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

    def _register(self, fullname: str, node: Named, where: str) -> None:
        if fullname in PRIMITIVES or short(fullname) in PRIMITIVES:
            raise ValueError(f"invalid Avro schema at {where}: cannot redefine '{fullname}'")
        if fullname in self._names:
            raise ValueError(f"invalid Avro schema at {where}: '{fullname}' is defined twice")
        self._names[fullname] = node

    def _lookup(self, name: str, namespace: str, where: str) -> Named:
        # Like Avro Java: a dotted name is full; a short one is tried in the enclosing
        # namespace first and then in the null namespace.
        candidates = [name] if "." in name or not namespace else [f"{namespace}.{name}", name]
        for candidate in candidates:
            if candidate in self._names:
                return self._names[candidate]
        raise ValueError(f"invalid Avro schema at {where}: '{name}' is not a defined type name")

    def _parse_record(self, schema: dict[str, Any], namespace: str, where: str) -> Record:
        fullname, own = self._name(schema, namespace, where)
        record = Record(fullname, self._aliases(schema, own, where))
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
                Field(
                    name=name,
                    aliases=tuple(aliases),
                    type=self._parse(spec["type"], own, field_where),
                    # Presence is what matters: a JSON null default is a real default.
                    has_default="default" in spec,
                )
            )
        return record

    def _parse_enum(self, schema: dict[str, Any], namespace: str, where: str) -> Enum:
        fullname, own = self._name(schema, namespace, where)
        symbols = schema.get("symbols")
        if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
            raise ValueError(f"invalid Avro schema at {where}: enum without a 'symbols' list")
        default = schema.get("default")
        if default is not None and not isinstance(default, str):
            raise ValueError(f"invalid Avro schema at {where}: enum 'default' must be a string")
        node = Enum(fullname, self._aliases(schema, own, where), tuple(symbols), default)
        self._register(fullname, node, where)
        return node

    def _parse_fixed(self, schema: dict[str, Any], namespace: str, where: str) -> Fixed:
        fullname, own = self._name(schema, namespace, where)
        size = schema.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ValueError(f"invalid Avro schema at {where}: fixed without a valid 'size'")
        node = Fixed(fullname, self._aliases(schema, own, where), size)
        self._register(fullname, node, where)
        return node
