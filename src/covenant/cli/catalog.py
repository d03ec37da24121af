"""``covenant datasets|artifacts|models|lineage``: the catalog, through the gateway.

These commands are HTTP clients of ``covenant up``'s gateway (``COVENANT_GATEWAY``),
so they behave exactly like any integration would. Each mutating command waits
for the decision by default (``--wait 30``); ``--wait 0`` returns as soon as the
command is accepted.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import mimetypes
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from covenant.cli._support import JsonOption as Json
from covenant.cli._support import err, fail, out, run, settings
from covenant.client import GatewayClient

datasets_app = typer.Typer(help="Register and inspect datasets.", no_args_is_help=True)
artifacts_app = typer.Typer(help="Store, fetch and verify artifacts.", no_args_is_help=True)
models_app = typer.Typer(help="Register and inspect model versions.", no_args_is_help=True)

T = TypeVar("T")

Wait = Annotated[float, typer.Option(help="seconds to wait for the decision; 0 = don't")]
Key = Annotated[
    str | None, typer.Option(help="idempotency key: a retry with the same key is a no-op")
]


def _client(ctx: typer.Context) -> GatewayClient:
    return GatewayClient(settings(ctx).gateway_url, actor=getpass.getuser())


def _call(ctx: typer.Context, work: Callable[[GatewayClient], Awaitable[T]]) -> T:
    async def go() -> T:
        async with _client(ctx) as client:
            return await work(client)

    return run(go())


def _show(document: dict[str, Any], json_out: bool, title: str) -> None:
    document = {k: v for k, v in document.items() if k != "status_code"}
    if json_out:
        print(json.dumps(document, indent=2))
        return
    out.print(f"[bold]{title}[/bold]")
    for key, value in document.items():
        text = json.dumps(value) if isinstance(value, dict | list) else str(value)
        out.print(f"  [cyan]{key}[/cyan]: {text}")


def _parsed(parse: Callable[[str], T], text: str, problem: str) -> T:
    """``parse(text)``, or a usage error naming the ``problem`` and why."""
    try:
        return parse(text)
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        raise fail(f"{problem}: {exc}", 2) from exc


def _pairs(items: list[str], what: str) -> dict[str, str]:
    pairs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise fail(f"{what} {item!r} must look like KEY=VALUE", 2)
        pairs[key] = value
    return pairs


def _progress() -> Progress:
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=err,
        transient=True,
    )


def _upload(
    client: GatewayClient, path: Path, *, name: str | None, wait: float, extra: dict[str, str]
) -> Awaitable[dict[str, Any]]:
    media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    progress = _progress()
    task = progress.add_task(f"uploading {path.name}", total=path.stat().st_size)

    async def run() -> dict[str, Any]:
        with progress:
            return await client.upload(
                path,
                name=name or path.name,
                media_type=media,
                wait_s=wait,
                headers=extra,
                progress=lambda n: progress.update(task, completed=n),
            )

    return run()


async def _artifact_of(
    client: GatewayClient, artifact: str | None, file: Path | None, wait: float
) -> str | None:
    """The artifact id given, or the one ``file`` gets once uploaded and verified
    (waiting for the verification even with ``--wait 0``: the command needs it)."""
    if file is None:
        return artifact
    stored = await _upload(client, file, name=None, wait=max(wait, 30.0), extra={})
    artifact_id: str = stored["artifactId"]
    return artifact_id


@dataclass(frozen=True)
class Submission:
    """A registration the CLI sends to the gateway: where, how long to wait, with
    which idempotency key, and how to show the answer."""

    ctx: typer.Context
    path: str
    wait: float
    key: str | None
    json_out: bool

    def with_artifact(
        self, document: dict[str, Any], artifact: str | None, file: Path | None, *, title: str
    ) -> None:
        """Send ``document`` naming the bytes given by id (``--artifact``) or by a
        file uploaded first (``--file``); exactly one of the two."""
        if (artifact is None) == (file is None):
            raise fail("give exactly one of --artifact sha256:… or --file PATH", 2)

        async def run(client: GatewayClient) -> dict[str, Any]:
            artifact_id = await _artifact_of(client, artifact, file, self.wait)
            body = {**document, "artifactId": artifact_id}
            return await client.post(self.path, body, wait_s=self.wait, key=self.key)

        _show(_call(self.ctx, run), self.json_out, title)


@artifacts_app.command("put")
def artifacts_put(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="file to store")],
    name: Annotated[str | None, typer.Option(help="artifact name; default the file name")] = None,
    git_commit: Annotated[str | None, typer.Option(help="commit of the run that made it")] = None,
    config: Annotated[list[str], typer.Option("--config", help="run config KEY=VALUE")] = [],  # noqa: B006
    wait: Wait = 60.0,
    json_out: Json = False,
) -> None:
    """Stream a file into the artifact store (hashed while it is written; a
    corrupted transfer is refused) and wait until the artifact worker verified it."""
    extra = {"X-Run-Config": json.dumps(_pairs(config, "--config"))}
    if git_commit:
        extra["X-Git-Commit"] = git_commit
    result = _call(ctx, lambda c: _upload(c, path, name=name, wait=wait, extra=extra))
    _show(result, json_out, f"stored {path.name}")


@artifacts_app.command("get")
def artifacts_get(
    ctx: typer.Context,
    artifact_id: Annotated[str, typer.Argument(help="sha256:<hex>")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="where to write the bytes")],
) -> None:
    """Download an artifact; the bytes are hashed on the way and only kept when
    they match the id."""
    progress = _progress()

    async def run(client: GatewayClient) -> str:
        meta = await client.get(f"/artifact/{artifact_id}")
        task = progress.add_task(f"fetching {artifact_id[:19]}…", total=meta.get("sizeBytes"))
        with progress:
            return await client.download(
                artifact_id, out_path, lambda n: progress.update(task, completed=n)
            )

    _call(ctx, run)
    out.print(f"wrote {out_path} (verified sha256)")


@artifacts_app.command("verify")
def artifacts_verify(
    ctx: typer.Context,
    artifact_id: Annotated[str, typer.Argument(help="sha256:<hex>")],
    path: Annotated[
        Path | None, typer.Argument(help="a local copy to check; default: fetch and check")
    ] = None,
) -> None:
    """Check that bytes hash to the artifact id: a local file, or the stored bytes."""
    if path is not None:
        digest = hashlib.sha256()
        with path.open("rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)
        actual = f"sha256:{digest.hexdigest()}"
    else:
        with tempfile.TemporaryDirectory(prefix="covenant-verify-") as folder:
            scratch = Path(folder) / "bytes"
            actual = (
                f"sha256:{_call(ctx, lambda c: c.download(artifact_id, scratch, lambda n: None))}"
            )
    if actual != artifact_id:
        err.print(f"[red]MISMATCH[/red]: bytes hash to {actual}")
        raise typer.Exit(1)
    out.print(f"[green]OK[/green] {artifact_id}")


@datasets_app.command("register")
def datasets_register(
    ctx: typer.Context,
    dataset_id: Annotated[str, typer.Argument(help="e.g. imagenet-mini:v1")],
    license_: Annotated[str, typer.Option("--license", help="e.g. CC-BY-4.0")],
    artifact: Annotated[str | None, typer.Option(help="sha256:<hex> of stored data")] = None,
    file: Annotated[Path | None, typer.Option(help="upload this file as the data first")] = None,
    source: Annotated[list[str], typer.Option(help="where the data came from (URI)")] = [],  # noqa: B006
    transformation: Annotated[
        list[str],
        typer.Option(help='JSON {"name":…,"codeRef":…,"checksum":"sha256:…"}; repeat'),
    ] = [],  # noqa: B006
    pii: Annotated[list[str], typer.Option(help="PII flag (email, phone, …); repeat")] = [],  # noqa: B006
    reviewed: Annotated[bool, typer.Option(help="provenance review passed")] = False,
    wait: Wait = 30.0,
    key: Key = None,
    json_out: Json = False,
) -> None:
    """Register a dataset with its lineage. Covenant takes the checksum from the
    stored bytes, never from you: give --artifact or --file."""
    steps = [_parsed(json.loads, t, "--transformation is not JSON") for t in transformation]
    document = {
        "datasetId": dataset_id,
        "sourceRefs": source,
        "transformations": steps,
        "license": license_,
        "piiFlags": pii,
        "provenanceReview": "passed" if reviewed else "pending",
    }
    sent = Submission(ctx, "/dataset/register", wait=wait, key=key, json_out=json_out)
    sent.with_artifact(document, artifact, file, title=f"dataset {dataset_id}")


@datasets_app.command("show")
def datasets_show(
    ctx: typer.Context,
    dataset_id: Annotated[str, typer.Argument()],
    downstream: Annotated[bool, typer.Option(help="also list models built on it")] = False,
    json_out: Json = False,
) -> None:
    """A dataset's lineage and training clearance."""

    async def run(client: GatewayClient) -> dict[str, Any]:
        document = await client.get(f"/datasets/{dataset_id}")
        if downstream:
            document["downstream"] = await client.get(f"/lineage/datasets/{dataset_id}/downstream")
        return document

    _show(_call(ctx, run), json_out, f"dataset {dataset_id}")


@models_app.command("register")
def models_register(
    ctx: typer.Context,
    family: Annotated[str, typer.Argument()],
    version: Annotated[str, typer.Argument(help="SemVer, e.g. 1.0.0")],
    code_ref: Annotated[str, typer.Option(help="repo#commit of the training code")],
    artifact: Annotated[str | None, typer.Option(help="sha256:<hex> of stored weights")] = None,
    file: Annotated[Path | None, typer.Option(help="upload these weights first")] = None,
    metric: Annotated[list[str], typer.Option(help="NAME=VALUE; repeat")] = [],  # noqa: B006
    dataset: Annotated[list[str], typer.Option(help="dataset id it trained on")] = [],  # noqa: B006
    parent: Annotated[list[str], typer.Option(help="parent model id")] = [],  # noqa: B006
    provenance: Annotated[list[str], typer.Option(help="KEY=VALUE; repeat")] = [],  # noqa: B006
    wait: Wait = 30.0,
    key: Key = None,
    json_out: Json = False,
) -> None:
    """Register a model version with its lineage; versions are immutable."""
    pairs = _pairs(metric, "--metric").items()
    metrics = {k: _parsed(float, v, "a --metric value is not a number") for k, v in pairs}
    document = {
        "family": family,
        "version": version,
        "codeRef": code_ref,
        "metrics": metrics,
        "lineage": {"datasetRefs": dataset, "parentModels": parent},
        "provenance": _pairs(provenance, "--provenance"),
    }
    sent = Submission(ctx, "/models/register", wait=wait, key=key, json_out=json_out)
    sent.with_artifact(document, artifact, file, title=f"model {family}:{version}")


@models_app.command("show")
def models_show(
    ctx: typer.Context,
    model_id: Annotated[str, typer.Argument(help="family:version")],
    json_out: Json = False,
) -> None:
    """A model version: metadata, status and lineage."""
    _show(_call(ctx, lambda c: c.get(f"/models/{model_id}")), json_out, f"model {model_id}")


@models_app.command("lineage")
def models_lineage(
    ctx: typer.Context,
    model_id: Annotated[str, typer.Argument(help="family:version")],
    json_out: Json = False,
) -> None:
    """Everything upstream of a model: datasets, transformations, parents, code."""
    document = _call(ctx, lambda c: c.get(f"/models/{model_id}"))
    lineage = document.get("lineage") or document.get("upstream") or {}
    if json_out:
        print(json.dumps(lineage, indent=2))
        return
    out.print(f"[bold]{model_id}[/bold]")
    for model in lineage.get("models", []):
        out.print(f"  ← model {model.get('modelId') or model.get('model_id')}")
    for data in lineage.get("datasets", []):
        out.print(f"  ← dataset {data.get('datasetId') or data.get('dataset_id')}")
        for step in data.get("transformations", []):
            out.print(
                f"      via {step.get('name')} ({step.get('codeRef') or step.get('code_ref')})"
            )
    for code in lineage.get("codeRefs", lineage.get("code_refs", [])):
        out.print(f"  code {code}")
