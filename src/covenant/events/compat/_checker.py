"""The Avro resolution rules applied to one reader graph and one writer graph."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from covenant.events.compat._nodes import (
    PROMOTIONS,
    Array,
    Enum,
    Field,
    Finding,
    Fixed,
    Map,
    Named,
    Node,
    Primitive,
    Record,
    Union,
    describe,
    short,
)


def _prefixed(segments: Sequence[str], findings: Iterable[Finding]) -> list[Finding]:
    head = tuple(segments)
    return [(head + path, message) for path, message in findings]


def _names_match(reader: Named, writer: Named) -> bool:
    # Specification: same unqualified name. Avro Java additionally lets a reader alias
    # (a full name) name the writer's full name.
    return short(reader.fullname) == short(writer.fullname) or writer.fullname in reader.aliases


def _top_level_match(reader: Node, writer: Node) -> bool:
    """Whether ``reader`` is the kind of schema that the specification pairs with ``writer``.

    This is the specification's "match" test used to pick a union branch: it looks only
    at the outermost type, not inside records, arrays or maps.
    """
    if isinstance(reader, Primitive) and isinstance(writer, Primitive):
        return reader.name == writer.name or reader.name in PROMOTIONS.get(writer.name, ())
    if isinstance(reader, Record) and isinstance(writer, Record):
        return _names_match(reader, writer)
    if isinstance(reader, Enum) and isinstance(writer, Enum):
        return _names_match(reader, writer)
    if isinstance(reader, Fixed) and isinstance(writer, Fixed):
        return _names_match(reader, writer)
    if isinstance(reader, Array) and isinstance(writer, Array):
        return True
    return isinstance(reader, Map) and isinstance(writer, Map)


class Checker:
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
        self._done: dict[tuple[str, str], list[Finding]] = {}

    def check(self, reader: Node, writer: Node) -> list[Finding]:
        if isinstance(writer, Union):
            return self._check_writer_union(reader, writer)
        if isinstance(reader, Union):
            return self._check_reader_union(reader, writer)
        if isinstance(reader, Primitive) and isinstance(writer, Primitive):
            if _top_level_match(reader, writer):
                return []
            return [
                ((), f"writer type {describe(writer)} cannot be promoted to {describe(reader)}")
            ]
        if isinstance(reader, Record) and isinstance(writer, Record):
            return self._check_record_pair(reader, writer)
        if isinstance(reader, Enum) and isinstance(writer, Enum):
            return self._check_enum(reader, writer)
        if isinstance(reader, Fixed) and isinstance(writer, Fixed):
            return self._check_fixed(reader, writer)
        if isinstance(reader, Array) and isinstance(writer, Array):
            return _prefixed(["items"], self.check(reader.items, writer.items))
        if isinstance(reader, Map) and isinstance(writer, Map):
            return _prefixed(["values"], self.check(reader.values, writer.values))
        return [((), f"reader type {describe(reader)} cannot read writer type {describe(writer)}")]

    def _check_writer_union(self, reader: Node, writer: Union) -> list[Finding]:
        # The writer may have picked any branch for any datum, so each must be readable.
        findings: list[Finding] = []
        for index, branch in enumerate(writer.branches):
            for path, message in self.check(reader, branch):
                if not path:
                    message = f"writer union branch {index}: {message}"
                findings.append((path, message))
        return findings

    def _check_reader_union(self, reader: Union, writer: Node) -> list[Finding]:
        first_match: tuple[int, list[Finding]] | None = None
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
        return [((), f"reader union has no branch that can read writer type {describe(writer)}")]

    def _check_record_pair(self, reader: Record, writer: Record) -> list[Finding]:
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

    def _check_record(self, reader: Record, writer: Record) -> list[Finding]:
        if not _names_match(reader, writer):
            return [(("name",), _name_mismatch("record", reader, writer))]
        by_name = {f.name: f for f in writer.fields}
        findings: list[Finding] = []
        for reader_field in reader.fields:
            where = ("fields", reader_field.name)
            matches: list[Field] = []
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
    def _check_enum(reader: Enum, writer: Enum) -> list[Finding]:
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
    def _check_fixed(reader: Fixed, writer: Fixed) -> list[Finding]:
        findings: list[Finding] = []
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


def _name_mismatch(kind: str, reader: Named, writer: Named) -> str:
    return (
        f"reader {kind} '{reader.fullname}' cannot read writer {kind} '{writer.fullname}': "
        "their unqualified names differ and no reader alias names the writer"
    )
