"""The public entry points: check one schema against another, in a direction or both."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from covenant.events.compat._checker import Checker
from covenant.events.compat._nodes import format_path
from covenant.events.compat._parser import Parser

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
    reader_node = Parser().parse(reader)
    writer_node = Parser().parse(writer)
    findings = Checker().check(reader_node, writer_node)
    return [Incompatibility(format_path(path), message) for path, message in findings]


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
