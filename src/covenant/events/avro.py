"""Derive the Avro schema of a pydantic record.

The pydantic classes are the single source of truth; ``schemas/avro/*.avsc`` are
generated from them (``covenant schemas write``) and a test fails when the
committed files are stale. Generating, rather than hand-writing both sides, means
the two can never disagree silently; committing the output means other languages
read plain ``.avsc`` files and reviewers see every contract change in a diff.
"""

from __future__ import annotations

import types
from datetime import datetime
from enum import Enum
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from covenant.errors import ConfigError


def avro_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The self-contained Avro schema of ``model``: nested named types are defined
    inline at first use and referenced by full name afterwards."""
    schema = _record(model, defined=set())
    assert isinstance(schema, dict)
    return schema


def _full_name(cls: type) -> str:
    namespace = getattr(cls, "NAMESPACE", "covenant.common")
    return f"{namespace}.{cls.__name__}"


def _record(model: type[BaseModel], *, defined: set[str]) -> dict[str, Any] | str:
    name = _full_name(model)
    if name in defined:
        return name
    defined.add(name)
    fields = []
    for py_name, info in model.model_fields.items():
        field: dict[str, Any] = {
            "name": info.alias or py_name,
            "type": _type(info.annotation, defined=defined, where=f"{name}.{py_name}"),
        }
        if info.description:
            field["doc"] = info.description
        default = _default(info.default, info.default_factory)
        if default is not PydanticUndefined:
            field["default"] = default
        fields.append(field)
    doc = (model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
    record: dict[str, Any] = {"type": "record", "name": name, "fields": fields}
    if doc:
        record["doc"] = doc
    return record


def _default(default: Any, factory: Any) -> Any:
    if factory is not None:
        default = factory()
    if isinstance(default, BaseModel):
        return default.model_dump(mode="json", by_alias=True)
    if default is PydanticUndefined:
        return PydanticUndefined
    if isinstance(default, Enum):
        return default.value
    return default


def _type(annotation: Any, *, defined: set[str], where: str) -> Any:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) != 1 or len(get_args(annotation)) != 2:
            raise ConfigError(f"{where}: only 'X | None' unions map to Avro")
        return ["null", _type(args[0], defined=defined, where=where)]
    if origin is list:
        (item,) = get_args(annotation)
        return {"type": "array", "items": _type(item, defined=defined, where=where)}
    if origin is dict:
        key, value = get_args(annotation)
        if key is not str:
            raise ConfigError(f"{where}: Avro map keys are strings")
        return {"type": "map", "values": _type(value, defined=defined, where=where)}
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return _record(annotation, defined=defined)
        if issubclass(annotation, Enum):
            name = _full_name(annotation)
            if name in defined:
                return name
            defined.add(name)
            enum: dict[str, Any] = {
                "type": "enum",
                "name": name,
                "symbols": [m.value for m in annotation],
            }
            # An enum that may grow names the symbol older readers fall back to
            # (Avro 1.9+ enum default), which keeps adding a symbol compatible.
            fallback = getattr(annotation, "avro_default", None)
            if fallback is not None:
                enum["default"] = fallback().value
            return enum
        for python, avro in _PRIMITIVES:
            if issubclass(annotation, python):
                return avro
    raise ConfigError(f"{where}: no Avro mapping for {annotation!r}")


_PRIMITIVES: tuple[tuple[type, Any], ...] = (
    (bool, "boolean"),  # before int: bool is an int subclass
    (int, "long"),
    (float, "double"),
    (str, "string"),
    (bytes, "bytes"),
    (datetime, {"type": "long", "logicalType": "timestamp-micros"}),
)
