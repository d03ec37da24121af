"""Single-object encoding, fingerprints and schema resolution."""

from __future__ import annotations

import copy
import io
import json
from typing import Any

import fastavro
import pytest
from fastavro.schema import to_parsing_canonical_form

from covenant.errors import DecodeError, UnknownSchemaError, ValidationError
from covenant.events.avro import avro_schema
from covenant.events.catalog import MESSAGE_TYPES, message_type
from covenant.events.codec import MAGIC, Codec, parse_document, schema_fingerprint
from covenant.events.registry import RegisterModel
from covenant.testing import builders


def rabin_fingerprint(text: str) -> bytes:
    """CRC-64-AVRO written straight from the Avro specification's Java sample,
    independent of fastavro, as the reference."""
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for byte in text.encode():
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp.to_bytes(8, "little")


def sample_model() -> RegisterModel:
    return builders.register_model(
        "vit:1.0.0",
        code_ref="git@example.com:vit.git#abc",
        artifact_id="sha256:" + "a" * 64,
        metrics={"top1": 0.9},
        datasets=["d:1"],
        parents=["vit:0.9.0"],
        provenance={"run": "r-1"},
        signer_id="ed25519:abc",
        signature=b"\x01\x02",
        actor="alice",
    )


@pytest.mark.parametrize("model", MESSAGE_TYPES, ids=lambda m: m.TYPE)
def test_fingerprint_matches_the_avro_specification(model: Any) -> None:
    schema = avro_schema(model)
    canonical = to_parsing_canonical_form(fastavro.parse_schema(schema))
    assert schema_fingerprint(schema) == rabin_fingerprint(canonical)


def test_encoding_is_single_object_with_the_writer_fingerprint() -> None:
    codec = Codec(MESSAGE_TYPES)
    message = sample_model()
    data = codec.encode(message)
    assert data[:2] == MAGIC
    assert data[2:10] == schema_fingerprint(avro_schema(RegisterModel))
    assert codec.decode(data) == message


def test_every_type_roundtrips() -> None:
    codec = Codec(MESSAGE_TYPES)
    dataset = builders.register_dataset(
        "d:1",
        artifact_id="sha256:" + "b" * 64,
        transformations=[builders.transformation("t", code_ref="c")],
        license="MIT",
        pii_flags=["email"],
    )
    letter = builders.dead_lettered(
        b"\x00\xff",
        worker="w",
        source_topic="t",
        source_partition=1,
        source_offset=2,
        error_class="E",
        error="boom",
        attempts=3,
    )
    for message in (sample_model(), dataset, letter):
        assert codec.decode(codec.encode(message)) == message


@pytest.mark.parametrize(
    ("data", "error", "match"),
    [
        (b"", DecodeError, "header"),
        (b"\x00\x01" + b"\x00" * 20, DecodeError, "header"),
        (MAGIC + b"\x00" * 8 + b"\x02", UnknownSchemaError, "fingerprint"),
    ],
)
def test_bad_bytes_raise_contract_errors(data: bytes, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        Codec(MESSAGE_TYPES).decode(data)


def test_truncated_and_trailing_bytes_are_refused() -> None:
    codec = Codec(MESSAGE_TYPES)
    data = codec.encode(sample_model())
    with pytest.raises(DecodeError):
        codec.decode(data[:-5])
    with pytest.raises(DecodeError, match="trailing"):
        codec.decode(data + b"\x00")


def test_older_compatible_writer_resolves_to_the_current_reader() -> None:
    current = avro_schema(RegisterModel)
    old = copy.deepcopy(current)
    old["fields"] = [f for f in old["fields"] if f["name"] not in ("provenance", "signerId")]
    value = sample_model().model_dump(by_alias=True)
    for dropped in ("provenance", "signerId"):
        value.pop(dropped)
    buf = io.BytesIO(MAGIC + schema_fingerprint(old))
    buf.seek(0, io.SEEK_END)
    fastavro.schemaless_writer(buf, fastavro.parse_schema(old), value)
    decoded = Codec(MESSAGE_TYPES, historical=[old]).decode(buf.getvalue())
    assert isinstance(decoded, RegisterModel)
    assert decoded.provenance == {}
    assert decoded.signer_id is None
    assert decoded.family == "vit"


def test_a_json_document_error_names_the_field() -> None:
    document = sample_model().model_dump(mode="json", by_alias=True)
    document["metrics"] = {"top1": "very good"}
    with pytest.raises(ValidationError) as info:
        parse_document(RegisterModel, json.dumps(document))
    assert info.value.field == "metrics.top1"
    assert "metrics.top1" in str(info.value)


def test_unknown_type_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match=r"model\.register"):
        message_type("model.regster")
