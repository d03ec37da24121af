"""``covenant drift show|alert|approve|signoff|report``: drift on the running platform.

HTTP clients of the gateway, like the catalog commands. A retrain approval and a
quarantine sign-off are signed here, on the approver's machine, with the approver's
own key file (as ``covenant promotions approve`` is): only the signature travels,
and the drift worker checks it against the approvers file before anything is
trained or released.
"""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from covenant.cli._support import JsonOption as Json
from covenant.cli._support import fail, out, run
from covenant.cli.catalog import Wait, _call, _show
from covenant.cli.drift import drift_app
from covenant.drift.signoff import signoff_message
from covenant.signing import LocalKeySigner

ModelArg = Annotated[str, typer.Argument(help="family:version")]
Approver = Annotated[str, typer.Option("--as", help="your id in the approvers file")]
KeyFile = Annotated[Path, typer.Option(help="your Ed25519 private key file (PKCS#8 PEM, 0600)")]
ExpiresIn = Annotated[int, typer.Option(help="seconds the decision stays valid")]


def _decision(
    key: Path, approver: str, subject_id: str, digest: str, expires_in: int
) -> dict[str, Any]:
    """The signed decision's body: over the subject, its request digest, an expiry and
    a fresh nonce, so it can be used once, for this and nothing else."""
    signer = LocalKeySigner(key)
    expires_at = datetime.now(UTC) + timedelta(seconds=expires_in)
    nonce = secrets.token_hex(16)
    message = signoff_message(
        subject_id=subject_id,
        request_digest=digest,
        approver_id=approver,
        expires_at=expires_at,
        nonce=nonce,
    )
    return {
        "approverId": approver,
        "keyId": signer.key_id,
        "requestDigest": digest,
        "expiresAt": expires_at.isoformat(),
        "nonce": nonce,
        "signature": base64.b64encode(run(signer.sign(message))).decode(),
    }


def _decide(
    ctx: typer.Context, path: str, action: str, awaiting: str, key: Path, approver: str,
    expires_in: int, wait: float,
) -> dict[str, Any]:  # fmt: skip
    """Read what ``path`` names, check it still waits for this decision, sign it over its
    request digest and post it to ``path/action``; the gateway's answer."""
    current = _call(ctx, lambda c: c.get(path))
    subject_id = path.rsplit("/", 1)[1]
    noun = "proposal" if "/proposals/" in path else "quarantine"
    if current.get("status") != awaiting:
        state = awaiting.replace("_", " ")
        raise fail(f"{noun} {subject_id} is {current.get('status')}, not {state}")
    body = _decision(key, approver, subject_id, current["requestDigest"], expires_in)
    return _call(ctx, lambda c: c.post(f"{path}/{action}", body, wait_s=wait))


def _print_model(doc: dict[str, Any]) -> None:
    history = doc.get("history", [])
    table = Table(title=f"{doc['modelId']}: {len(history)} window(s) shown")
    for heading in ("window", "deployment", "closed", "rows", "drifted columns", "rejected"):
        table.add_column(heading, justify="right" if heading in ("window", "rows") else "left")
    for h in history:
        drifted = [
            f"{name} ({c['statistic']} {c['value']:.3g} > {c['threshold']:.3g})"
            for name, c in h["columns"].items()
            if c["drifted"]
        ]
        outcomes = [
            f"{name} ({o['current']:.3g})" for name, o in h["outcomes"].items() if o["drifted"]
        ]
        table.add_row(
            str(h["window"]),
            h["deployId"],
            h["closedAt"][:19],
            str(h["rows"]),
            ", ".join(drifted + outcomes) or "[green]none[/green]",
            ", ".join(f"{k} {v}" for k, v in h["rejected"].items()),
        )
    out.print(table)
    for alert in doc.get("alerts", []):
        out.print(
            f"[red]alert[/red] {alert['alertId']} ({alert['severity']}, {alert['source']}): "
            f"{alert['reason']} → {alert['remediation']}"
        )
    for p in doc.get("proposals", []):
        cost = p.get("cost") or {}
        out.print(
            f"[yellow]retrain[/yellow] {p['proposalId']}: {p['status']}; job "
            f"{p['request']['jobId']} on {', '.join(p['lineage']['datasets'])}; "
            f"est. {cost.get('cost', '?')} {cost.get('currency', '')}"
            + (f"; approve: covenant drift approve {p['proposalId']} --as NAME --key KEY"
               if p["status"] == "awaiting_approval" else "")
        )  # fmt: skip
    for q in doc.get("quarantines", []):
        out.print(
            f"[red]quarantine[/red] {q['quarantineId']}: {q['status']}; signed off by "
            f"{', '.join(q['signedBy']) or 'nobody yet'} ({len(q['signedBy'])}/"
            f"{q['requiredSignoffs']})"
        )


@drift_app.command("show")
def show_command(
    ctx: typer.Context,
    model_id: ModelArg,
    limit: Annotated[int, typer.Option(help="windows of history to show")] = 20,
    json_out: Json = False,
) -> None:
    """A model version's drift on the platform, window by window.

    Each window's drifted columns with statistic and threshold, then alerts, retrain
    proposals and quarantines."""
    doc = _call(ctx, lambda c: c.get(f"/drift/{model_id}", limit=str(limit)))
    if json_out:
        _show(doc, True, "")
    else:
        _print_model(doc)


@drift_app.command("alert")
def alert_command(
    ctx: typer.Context,
    model_id: ModelArg,
    route: Annotated[str, typer.Option(help="the route the version serves on")],
    reason: Annotated[str, typer.Option(help="what was seen, for the audit trail")],
    severity: Annotated[
        str, typer.Option(help="drift (propose a retrain) or safety (quarantine)")
    ] = "drift",
    source: Annotated[str, typer.Option(help="who raises it")] = "cli",
    feature: Annotated[
        list[str] | None, typer.Option("--feature", help="a feature involved (repeatable)")
    ] = None,
    wait: Wait = 30.0,
    json_out: Json = False,
) -> None:
    """Raise an alert from outside: the drift worker answers it as its own."""
    if severity not in ("drift", "safety"):
        raise fail(f"--severity must be drift or safety, not {severity!r}")
    body = {
        "modelId": model_id, "route": route, "severity": severity, "reason": reason,
        "source": source, "features": feature or [],
    }  # fmt: skip
    _show(_call(ctx, lambda c: c.post("/drift/alert", body, wait_s=wait)), json_out, "alert")


@drift_app.command("approve")
def approve_command(
    ctx: typer.Context,
    proposal_id: Annotated[str, typer.Argument(help="the retrain proposal")],
    approver: Approver,
    key: KeyFile,
    expires_in: ExpiresIn = 3600,
    wait: Wait = 30.0,
    json_out: Json = False,
) -> None:
    """Approve a retrain proposal with your own key.

    The drift worker then submits its training request exactly as proposed."""
    path = f"/drift/proposals/{proposal_id}"
    document = _decide(ctx, path, "approve", "awaiting_approval", key, approver, expires_in, wait)
    _show(document, json_out, "retrain approved")


@drift_app.command("signoff")
def signoff_command(
    ctx: typer.Context,
    quarantine_id: Annotated[str, typer.Argument(help="the quarantine")],
    approver: Approver,
    key: KeyFile,
    expires_in: ExpiresIn = 3600,
    wait: Wait = 30.0,
    json_out: Json = False,
) -> None:
    """Sign a quarantine off with your own key.

    Once enough distinct approvers have (as many as the version's promotion needed),
    it may be deployed again."""
    path = f"/drift/quarantines/{quarantine_id}"
    document = _decide(ctx, path, "signoff", "in_force", key, approver, expires_in, wait)
    _show(document, json_out, "signed off")


@drift_app.command("report")
def report_command(
    ctx: typer.Context,
    model_id: ModelArg,
    output: Annotated[
        Path, typer.Option("-o", "--output", help="report.html (self-contained) or report.png")
    ],
    limit: Annotated[int, typer.Option(help="windows of score history to draw")] = 100,
) -> None:
    """Draw a model version's drift as HTML or PNG.

    Per column the reference against the latest window, and each window's score
    against its threshold."""
    from covenant.cli._drift_live_report import render_html, render_png

    suffix = output.suffix.lower()
    if suffix not in (".html", ".png"):
        raise fail(f"{output}: give a .html or a .png file name")
    doc = _call(ctx, lambda c: c.get(f"/drift/{model_id}", limit=str(limit)))
    if suffix == ".html":
        output.write_text(render_html(doc), encoding="utf-8")
    else:
        output.write_bytes(render_png(doc))
    out.print(f"wrote {output}")
