"""Command bodies turn into command fields without re-encoding bytes."""

from __future__ import annotations

import base64

from covenant.gateway.commands import RegisterModelBody
from covenant.gateway.promotion import ApproveBody


def test_base64_fields_become_the_decoded_bytes() -> None:
    raw = bytes(range(64))
    text = base64.b64encode(raw).decode()
    model = RegisterModelBody.model_validate(
        {"family": "f", "version": "1.0.0", "codeRef": "r#c", "artifactId": "a", "signature": text}
    )
    assert model.model_dump()["signature"] != raw  # what the bug was: base64 text again
    assert model.fields()["signature"] == raw
    approval = ApproveBody.model_validate(
        {
            "approverId": "ann",
            "keyId": "ed25519:0123456789abcdef",
            "requestDigest": "0" * 64,
            "expiresAt": "2026-12-02T12:00:00+00:00",
            "nonce": "n",
            "signature": text,
        }
    )
    assert approval.fields()["signature"] == raw
