"""Covenant's manifests, checked by independent implementations of the standards.

securesystemslib (the DSSE reference library of the Secure Systems Lab, which the
in-toto project uses) verifies Covenant's envelopes and signs envelopes Covenant must
verify; the in-toto attestation framework's own protobuf bindings parse and validate
Covenant's statements; the ``rfc8785`` package is not the only judge of canonical form,
so the JCS test vectors of RFC 8785 are checked here too.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from google.protobuf import json_format
from in_toto_attestation.v1 import resource_descriptor_pb2, statement_pb2
from in_toto_attestation.v1.statement import Statement as InTotoStatement
from securesystemslib.dsse import Envelope as SslibEnvelope
from securesystemslib.exceptions import VerificationError
from securesystemslib.signer import CryptoSigner, SSlibKey

from covenant.provenance import (
    PAYLOAD_TYPE,
    PREDICATE_TYPE,
    ProvenanceError,
    Statement,
    build_statement,
    canonical_json,
    sign_envelope,
    subjects_from_folder,
    verify_envelope,
)
from covenant.signing import LocalKeySigner
from provenance_support import model_folder, predicate


@pytest.fixture
def same_key(tmp_path: Path) -> tuple[LocalKeySigner, CryptoSigner, SSlibKey]:
    """One Ed25519 key held by Covenant's signer and by securesystemslib's."""
    private = Ed25519PrivateKey.generate()
    path = tmp_path / "key.pem"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    ours = LocalKeySigner(path)
    public = SSlibKey.from_crypto(private.public_key(), keyid=ours.key_id)
    return ours, CryptoSigner(private, public), public


@pytest.fixture
def statement(tmp_path: Path) -> Statement:
    return build_statement(subjects_from_folder(model_folder(tmp_path)), predicate())


async def test_securesystemslib_verifies_a_covenant_envelope(
    same_key: tuple[LocalKeySigner, CryptoSigner, SSlibKey], statement: Statement
) -> None:
    ours, _, public = same_key
    envelope = await sign_envelope(statement, ours)
    theirs = SslibEnvelope.from_dict(json.loads(envelope.to_bytes()))
    assert theirs.payload_type == PAYLOAD_TYPE
    assert theirs.pae() == b"DSSEv1 28 application/vnd.in-toto+json %d %b" % (
        len(envelope.payload),
        envelope.payload,
    )
    assert set(theirs.verify([public], 1)) == {ours.key_id}
    theirs.payload = theirs.payload.replace(b"digits", b"digitz")
    with pytest.raises(VerificationError):
        theirs.verify([public], 1)


async def test_covenant_verifies_a_securesystemslib_envelope(
    same_key: tuple[LocalKeySigner, CryptoSigner, SSlibKey], statement: Statement
) -> None:
    ours, signer, _ = same_key
    theirs = SslibEnvelope(statement.canonical_bytes(), PAYLOAD_TYPE, {})
    theirs.sign(signer)
    document = theirs.to_dict()
    assert verify_envelope(document, ours.public_key_pem()) == statement
    assert verify_envelope(json.dumps(document), ours.public_key_pem()) == statement
    other = SslibEnvelope(statement.canonical_bytes(), "application/json", {})
    other.sign(signer)
    with pytest.raises(ProvenanceError, match="payloadType"):
        verify_envelope(other.to_dict(), ours.public_key_pem())


async def test_the_in_toto_bindings_parse_and_validate_the_statement(
    same_key: tuple[LocalKeySigner, CryptoSigner, SSlibKey], statement: Statement
) -> None:
    envelope = await sign_envelope(statement, same_key[0])
    proto = json_format.Parse(envelope.payload, statement_pb2.Statement())
    InTotoStatement.copy_from_pb(proto).validate()
    assert proto.type == "https://in-toto.io/Statement/v1"
    assert proto.predicate_type == PREDICATE_TYPE
    assert [(s.name, dict(s.digest)) for s in proto.subject] == [
        (s.name, {"sha256": s.sha256}) for s in statement.subjects
    ]
    assert json_format.MessageToDict(proto.predicate) == json.loads(envelope.payload)["predicate"]


def test_a_statement_written_by_the_in_toto_bindings_is_read() -> None:
    digest = hashlib.sha256(b"weights").hexdigest()
    theirs = InTotoStatement(
        [resource_descriptor_pb2.ResourceDescriptor(name="model.onnx", digest={"sha256": digest})],
        PREDICATE_TYPE,
        predicate(),
    )
    theirs.validate()
    parsed = Statement.from_json(json_format.MessageToDict(theirs.pb))
    assert parsed.subject("model.onnx").sha256 == digest
    assert parsed.predicate["modelId"] == "digits:1.2.0"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # RFC 8785 section 3.2.2.3 (numbers) and 3.2.3 (sorting by UTF-16 code units).
        (
            {"numbers": [333333333.33333329, 1e30, 4.50, 2e-3, 0.000000000000000000000000001]},
            '{"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27]}',
        ),
        (
            {
                "\u20ac": "Euro Sign",
                "\r": "CR",
                "\ufb33": "Hebrew",
                "1": "One",
                "\U0001f600": "Emoji",
                "\u0080": "Control",
                "\u00f6": "Latin",
            },
            '{"\\r":"CR","1":"One","\u0080":"Control","\u00f6":"Latin","\u20ac":"Euro Sign",'
            '"\U0001f600":"Emoji","\ufb33":"Hebrew"}',
        ),
        ({"literals": [None, True, False]}, '{"literals":[null,true,false]}'),
    ],
)
def test_the_canonical_form_is_rfc_8785(value: object, expected: str) -> None:
    assert canonical_json(value) == expected.encode("utf-8")
