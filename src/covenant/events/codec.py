"""Avro single-object encoding: ``C3 01`` + 8-byte CRC-64-AVRO fingerprint + body.

The fingerprint lets any consumer find the writer schema without a registry
service; the reader then resolves writer → reader schema under Avro's rules, so
old records stay readable after a compatible schema change.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import fastavro
import pydantic
from fastavro.schema import fingerprint, to_parsing_canonical_form

from covenant.bus.protocol import Outgoing
from covenant.errors import DecodeError, UnknownSchemaError, ValidationError
from covenant.events.avro import avro_schema
from covenant.events.base import Message

MAGIC = b"\xc3\x01"
HEADER_SIZE = 10


def schema_fingerprint(schema: Mapping[str, Any]) -> bytes:
    """CRC-64-AVRO of the schema's parsing canonical form, little-endian, as the
    Avro specification writes it in the single-object header."""
    canonical = to_parsing_canonical_form(fastavro.parse_schema(dict(schema)))
    return bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))


@dataclass(frozen=True, slots=True)
class _Writer:
    model: type[Message]
    parsed: Any
    header: bytes


@dataclass(frozen=True, slots=True)
class _Reader:
    model: type[Message] | None
    writer_schema: Any
    reader_schema: Any


class Codec:
    """Encodes messages to single-object Avro and back into pydantic models.

    Args:
        models: the message types this codec writes and reads (their current schemas).
        historical: older writer schemas still to be read (e.g. the last released
            snapshot), resolved to the current schema of the same name.
    """

    def __init__(
        self,
        models: Iterable[type[Message]],
        *,
        historical: Iterable[Mapping[str, Any]] = (),
    ) -> None:
        self._writers: dict[type[Message], _Writer] = {}
        self._readers: dict[bytes, _Reader] = {}
        by_name: dict[str, tuple[type[Message], Any]] = {}
        for model in models:
            schema = avro_schema(model)
            parsed = fastavro.parse_schema(schema)
            fp = schema_fingerprint(schema)
            self._writers[model] = _Writer(model, parsed, MAGIC + fp)
            self._readers[fp] = _Reader(model, parsed, parsed)
            by_name[schema["name"]] = (model, parsed)
        for old in historical:
            fp = schema_fingerprint(old)
            if fp in self._readers:
                continue
            known = by_name.get(old["name"])
            parsed_old = fastavro.parse_schema(dict(old))
            if known is None:
                self._readers[fp] = _Reader(None, parsed_old, parsed_old)
            else:
                self._readers[fp] = _Reader(known[0], parsed_old, known[1])

    def encode(self, message: Message) -> bytes:
        """Single-object bytes of ``message``."""
        writer = self._writers.get(type(message))
        if writer is None:
            raise ValidationError(f"{type(message).__name__} is not a type this codec writes")
        buf = io.BytesIO()
        buf.write(writer.header)
        fastavro.schemaless_writer(buf, writer.parsed, message.model_dump(by_alias=True))
        return buf.getvalue()

    def outgoing(self, message: Message) -> Outgoing:
        """``message`` encoded and addressed: its topic, keyed by its subject, so
        every writer (workers, gateway, audit, demo) partitions the same way."""
        return Outgoing(message.TOPIC, message.meta.subject.encode(), self.encode(message))

    def fingerprint_of(self, data: bytes) -> bytes:
        """The writer fingerprint in a single-object header."""
        if len(data) < HEADER_SIZE or data[:2] != MAGIC:
            raise DecodeError(
                f"not Avro single-object encoding: expected header C3 01, got {data[:2].hex()!r}"
                f" in {len(data)} bytes"
            )
        return data[2:HEADER_SIZE]

    def decode_dict(self, data: bytes) -> tuple[type[Message] | None, dict[str, Any]]:
        """Decode to a plain dict under the reader schema (for tools that print)."""
        fp = self.fingerprint_of(data)
        reader = self._readers.get(fp)
        if reader is None:
            raise UnknownSchemaError(fp)
        body = io.BytesIO(data)
        body.seek(HEADER_SIZE)
        try:
            value = fastavro.schemaless_reader(body, reader.writer_schema, reader.reader_schema)
        except Exception as exc:  # fastavro raises many types for garbage bodies
            raise DecodeError(f"body does not decode under its writer schema: {exc!r}") from exc
        if body.tell() != len(data):
            raise DecodeError(f"{len(data) - body.tell()} trailing bytes after the Avro body")
        if not isinstance(value, dict):
            raise DecodeError("body is not an Avro record")
        return reader.model, value

    def decode(self, data: bytes) -> Message:
        """Decode and validate into the message's pydantic model."""
        model, value = self.decode_dict(data)
        if model is None:
            raise UnknownSchemaError(self.fingerprint_of(data))
        try:
            return model.model_validate(value)
        except pydantic.ValidationError as exc:
            raise _validation_error(exc) from exc


def _validation_error(exc: pydantic.ValidationError) -> ValidationError:
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"])
    return ValidationError(f"field {field!r}: {first['msg']}", field=field)


def parse_document(model: type[Message], document: str | bytes) -> Message:
    """Validate a JSON document into ``model``, naming the first bad field."""
    try:
        return model.model_validate_json(document)
    except pydantic.ValidationError as exc:
        raise _validation_error(exc) from exc
    except json.JSONDecodeError as exc:  # pragma: no cover - pydantic wraps these
        raise ValidationError(f"not JSON: {exc}") from exc
