"""``covenant verify``: check signed provenance offline, with public keys alone.

``covenant verify bundle`` checks a provenance bundle (``covenant.provenance.bundle``):
the manifest's signature under the given key, the model files against its subjects,
and each promotion event against the signed audit checkpoints. It exits 1 with the
first reason on any failure, so a deployment pipeline can gate on it; 2 when an input
cannot be read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from covenant.cli._support import JsonOption, err, fail, out
from covenant.provenance import BundleReport, ProvenanceError, verify_bundle

__all__ = ["verify_app"]

verify_app = typer.Typer(
    help="Check signed provenance offline: manifests, model files, audit proofs.",
    no_args_is_help=True,
)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {what} {path}: {exc.strerror}", 2) from exc


def _model_files(files: list[str]) -> Path | dict[str, Path] | None:
    """One folder, or files as ``NAME=PATH`` (NAME: the path inside the artifact) or
    ``PATH`` (named by its file name)."""
    if not files:
        return None
    if len(files) == 1 and Path(files[0]).is_dir():
        return Path(files[0])
    mapping: dict[str, Path] = {}
    for item in files:
        name, sep, path = item.partition("=")
        target = Path(path) if sep else Path(item)
        if not target.is_file():
            raise fail(f"no such file: {target}", 2)
        mapping[name if sep else target.name] = target
    return mapping


def _summary(report: BundleReport) -> list[str]:
    lines = [
        f"model {report.model_id}: manifest sha256 {report.manifest_sha256} "
        f"signed by {report.signer_key_id}",
        f"  {len(report.statement.subjects)} signed file(s); "
        + (f"{len(report.files)} checked on disk" if report.files else "no file checked"),
    ]
    if report.audit_key_id is not None:
        sizes = ", ".join(f"{c.tree_size:,}" for c in report.checkpoints) or "none"
        lines.append(
            f"  {len(report.events)} event(s) proven in the audit trail of key "
            f"{report.audit_key_id} (trusted by {report.audit_key_trusted_by}); "
            f"checkpoint sizes {sizes}"
        )
        lines.extend(
            f"    {e.type} of {e.subject} {e.event_id} (leaf {e.leaf_index:,})"
            for e in report.events
        )
    return lines


@verify_app.command("bundle")
def bundle(
    bundle_file: Annotated[Path, typer.Argument(metavar="FILE", help="the provenance bundle")],
    public_key: Annotated[
        Path, typer.Option("--public-key", help="the manifest signer's public key (PEM)")
    ],
    files: Annotated[
        list[str] | None,
        typer.Option(
            "--file",
            help="the model folder, or each model file as PATH or NAME=PATH; they must be "
            "exactly the signed files",
        ),
    ] = None,
    audit_key: Annotated[
        Path | None,
        typer.Option(
            "--audit-key",
            help="trust this audit public key (PEM); default: the one the manifest vouches for",
        ),
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Verify a provenance bundle with the public key alone; exit 1 if anything fails."""
    data = _read(bundle_file, "the bundle")
    key = _read(public_key, "the public key")
    audit = None if audit_key is None else _read(audit_key, "the audit key")
    model = _model_files(files or [])
    try:
        report = verify_bundle(data, key, model, audit_public_key_pem=audit)
    except ProvenanceError as exc:
        if json_out:
            print(json.dumps({"ok": False, "reason": str(exc), "file": exc.name}))
            raise typer.Exit(1) from exc
        raise fail(f"bundle does NOT verify: {exc}") from exc
    if json_out:
        print(json.dumps(report.to_json()))
        return
    out.print("[green]bundle verified[/green]")
    for line in _summary(report):
        out.print(line, highlight=False)
    if not report.files:
        err.print("note: no model file was checked; pass --file to check them")
