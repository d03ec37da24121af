"""``covenant models sign|promote|demote|deprecate`` and ``covenant promotions``.

HTTP clients of the gateway like the other catalog commands. An approval is signed
here, on the approver's machine, with the approver's own key file
(``covenant promotions approve ID --as NAME --key KEY.pem``): only the signature
travels, and the worker checks it against the key registered in the approvers file.
"""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from covenant.cli._support import BusOption, err, fail, open_log, out, run, settings
from covenant.cli._support import JsonOption as Json
from covenant.cli.catalog import Wait, _call, _show, models_app
from covenant.errors import CovenantError
from covenant.promotion.approvals import approval_message
from covenant.signing import LocalKeySigner

promotions_app = typer.Typer(
    help="Follow and approve promotions (sandbox → staging → prod).", no_args_is_help=True
)

_TARGETS = ("staging", "prod")


def _promotion(document: dict[str, Any], json_out: bool) -> None:
    if json_out:
        _show(document, True, "")
        return
    status = document.get("status")
    colour = {"promoted": "green", "blocked": "red"}.get(str(status), "yellow")
    out.print(
        f"[bold]{document.get('promotionId')}[/bold]: {document.get('modelId')} → "
        f"{document.get('target')}: [{colour}]{status}[/{colour}]"
    )
    for reason in document.get("reasons", []):
        out.print(f"  [red]✗ {reason['check']}[/red]: {reason['message']}")
    if document.get("waitingFor") == "approvals":
        out.print(
            f"  approvals {len(document.get('approvedBy', []))}/"
            f"{document.get('requiredApprovals')}: approved by "
            f"{', '.join(document.get('approvedBy', [])) or 'nobody yet'}; may still approve: "
            f"{', '.join(document.get('mayStillApprove', []))}"
        )
        out.print(f"  request digest (what approvers sign): {document.get('requestDigest')}")
    for refused in document.get("refusedApprovals", []):
        out.print(f"  [red]refused approval[/red] by {refused['approverId']}: {refused['reason']}")
    promoted = document.get("promoted")
    if promoted:
        out.print(
            f"  [green]✓[/green] {promoted['fromStatus']} → {promoted['toStatus']}, signed by "
            f"{promoted['signerId']} (manifest {promoted['manifestId']})"
        )


@models_app.command("sign")
def models_sign(
    ctx: typer.Context,
    model_id: Annotated[str, typer.Argument(help="family:version")],
    wait: Wait = 30.0,
    json_out: Json = False,
) -> None:
    """Sign a version's manifest with the configured key (COVENANT_SIGNER on the
    platform: an HSM or the signing proxy in production)."""
    document = _call(ctx, lambda c: c.post(f"/models/{model_id}/sign", {}, wait_s=wait))
    _show(document, json_out, f"manifest of {model_id}")


@models_app.command("promote")
def models_promote(
    ctx: typer.Context,
    model_id: Annotated[str, typer.Argument(help="family:version")],
    to: Annotated[str, typer.Option("--to", help="staging or prod")],
    region: Annotated[str | None, typer.Option(help="where it will serve")] = None,
    reason: Annotated[str, typer.Option(help="why, for the audit trail")] = "",
    wait: Wait = 30.0,
    json_out: Json = False,
) -> None:
    """Ask to promote a version one step up: checks, SentinelNet, signature, multisig.
    Exits 1 when the promotion is blocked."""
    if to not in _TARGETS:
        raise fail(f"--to must be one of {', '.join(_TARGETS)}, not {to!r}")
    body = {"target": to, "region": region, "reason": reason}
    document = _call(ctx, lambda c: c.post(f"/models/{model_id}/promote", body, wait_s=wait))
    _promotion(document, json_out)
    if document.get("status") == "blocked":
        raise typer.Exit(1)


@models_app.command("demote")
def models_demote(
    ctx: typer.Context,
    model_id: Annotated[str, typer.Argument(help="family:version")],
    to: Annotated[str, typer.Option("--to", help="staging or sandbox")],
    reason: Annotated[str, typer.Option(help="why")],
    wait: Wait = 30.0,
    json_out: Json = False,
) -> None:
    """Move a version back down the ladder."""
    body = {"target": to, "reason": reason}
    document = _call(ctx, lambda c: c.post(f"/models/{model_id}/demote", body, wait_s=wait))
    _show(document, json_out, f"{model_id} demoted")


@models_app.command("deprecate")
def models_deprecate(
    ctx: typer.Context,
    model_id: Annotated[str, typer.Argument(help="family:version")],
    reason: Annotated[str, typer.Option(help="why")],
    wait: Wait = 30.0,
    json_out: Json = False,
) -> None:
    """Retire a version: it can no longer be promoted."""
    body = {"reason": reason}
    document = _call(ctx, lambda c: c.post(f"/models/{model_id}/deprecate", body, wait_s=wait))
    _show(document, json_out, f"{model_id} deprecated")


@promotions_app.command("show")
def promotions_show(
    ctx: typer.Context,
    promotion_id: Annotated[str, typer.Argument()],
    json_out: Json = False,
) -> None:
    """A promotion: pending (who has approved, who may still), blocked, or promoted."""
    _promotion(_call(ctx, lambda c: c.get(f"/promotions/{promotion_id}")), json_out)


@promotions_app.command("approve")
def promotions_approve(
    ctx: typer.Context,
    promotion_id: Annotated[str, typer.Argument()],
    approver: Annotated[str, typer.Option("--as", help="your id in the approvers file")],
    key: Annotated[Path, typer.Option(help="your Ed25519 private key file (PKCS#8 PEM, 0600)")],
    expires_in: Annotated[int, typer.Option(help="seconds the approval stays valid")] = 3600,
    wait: Wait = 30.0,
    json_out: Json = False,
) -> None:
    """Sign and send your approval of a pending promotion: over its request digest,
    an expiry and a fresh nonce, with your own key (it never leaves this machine)."""
    signer = LocalKeySigner(key)
    current = _call(ctx, lambda c: c.get(f"/promotions/{promotion_id}"))
    digest = current.get("requestDigest")
    if current.get("waitingFor") != "approvals" or not isinstance(digest, str):
        raise fail(
            f"promotion {promotion_id} is {current.get('status')}, not waiting for approvals"
        )
    expires_at = datetime.now(UTC) + timedelta(seconds=expires_in)
    nonce = secrets.token_hex(16)
    message = approval_message(
        promotion_id=promotion_id,
        request_digest=digest,
        approver_id=approver,
        expires_at=expires_at,
        nonce=nonce,
    )
    signature = run(signer.sign(message))
    body = {
        "approverId": approver,
        "keyId": signer.key_id,
        "requestDigest": digest,
        "expiresAt": expires_at.isoformat(),
        "nonce": nonce,
        "signature": base64.b64encode(signature).decode(),
    }
    path = f"/promotions/{promotion_id}/approve"
    document = _call(ctx, lambda c: c.post(path, body, wait_s=wait))
    _show(document, json_out, f"approval of {promotion_id} by {approver}")


@models_app.command("provenance")
def models_provenance(
    ctx: typer.Context,
    model_id: Annotated[str, typer.Argument(help="family:version")],
    output: Annotated[Path, typer.Option("-o", "--output", help="write the bundle here")],
    bus: BusOption = None,
) -> None:
    """Write the version's offline provenance bundle: the signed manifest, its signer's
    key id, every promotion event with its audit inclusion proof and the signed
    checkpoint. Check it anywhere with 'covenant verify bundle FILE --public-key KEY'.
    Reads the log directly (COVENANT_BUS or --bus)."""
    from covenant.events.contract import default_codec
    from covenant.promotion.bundles import provenance_bundle
    from covenant.signing.config import open_signer

    async def go() -> bytes:
        async with open_signer(settings(ctx)) as signer:
            audit_key = signer.public_key_pem()
        async with open_log(ctx, bus) as log:
            return await provenance_bundle(
                log, model_id, audit_public_key_pem=audit_key, codec=default_codec()
            )

    try:
        bundle = run(go())
    except CovenantError as exc:
        raise fail(str(exc)) from exc
    output.write_bytes(bundle)
    err.print(f"provenance bundle of {model_id} written to {output} ({len(bundle)} bytes)")
