"""``covenant serve deploy|status|scale|rollback|explain|predict``.

Gateway clients like the other catalog commands, except ``predict``, which calls the
router (``COVENANT_ROUTER_URL``) over the Open Inference Protocol exactly as a KServe
or Triton client would, and shows the provenance the answer carries.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from covenant.cli._support import JsonOption as Json
from covenant.cli._support import err, fail, out, settings
from covenant.cli.catalog import Wait, _call, _show

serve_app = typer.Typer(
    help="Deploy models, follow canaries, scale, roll back and predict.", no_args_is_help=True
)
_PROVENANCE = (
    "x-covenant-model-id",
    "x-covenant-model-version",
    "x-covenant-artifact-digest",
    "x-covenant-signer-id",
    "x-covenant-route",
    "x-covenant-arm",
    "traceparent",
)


def _status(doc: dict[str, Any], json_out: bool) -> None:
    if json_out:
        _show(doc, True, "")
        return
    record, refusal = doc.get("record"), doc.get("refusal")
    if record is None and refusal is not None:
        out.print(
            f"[red]✗ {doc['deployId']} refused[/red] ({refusal['code']}): {refusal['reason']}"
        )
        return
    assert record is not None
    colour = {"serving": "green", "canary": "yellow", "rolled_back": "red", "failed": "red"}
    tone = colour.get(record["status"], "white")
    out.print(
        f"[bold]{record['deployId']}[/bold]: {record['modelId']} on route {record['route']} "
        f"({record['env']}): [{tone}]{record['status']}[/{tone}], "
        f"{record['trafficPercent']} % of traffic, {record['readyReplicas']}/"
        f"{record['resources']['replicas']} replicas ready"
    )
    out.print(f"  {record['reason']}")
    traffic = doc.get("traffic")
    if traffic:
        split = ", ".join(f"{a['name']} {a['weight']} % ({a['modelId']})" for a in traffic["arms"])
        out.print(f"  route split: {split}")
    if refusal is not None:
        out.print(f"  [red]refused[/red] ({refusal['code']}): {refusal['reason']}")


def explain_lines(doc: dict[str, Any]) -> list[str]:
    """The evidence of a deployment as lines a person reads (``covenant serve explain``)."""
    lines = [f"{doc['deployId']}:"]
    for record in doc.get("history", []):
        lines.append(
            f"  {record['status']:>12}  {record['trafficPercent']:>3} %  {record['reason']}"
        )
    for analysis in doc.get("analyses", []):
        lines.append(
            f"  step {analysis['step'] + 1} at {analysis['trafficPercent']} %: "
            f"{analysis['decision']} (score {analysis['score']:.0f}; baseline n="
            f"{analysis['nBaseline']}, canary n={analysis['nCanary']})"
        )
        for verdict in analysis["verdicts"]:
            lines.append(f"      {verdict['outcome']:>12}  {verdict['reason']}")
    for scale in doc.get("scaling", []):
        lines.append(
            f"  scaled {scale['fromReplicas']} → {scale['toReplicas']} ({scale['trigger']}): "
            f"{scale['reason']}"
        )
    return lines


@serve_app.command("deploy")
def deploy(
    ctx: typer.Context,
    model_id: Annotated[str, typer.Argument(help="family:version")],
    env: Annotated[str, typer.Option(help="sandbox, staging or prod")] = "sandbox",
    route: Annotated[str | None, typer.Option(help="the route (default: the family)")] = None,
    canary: Annotated[
        str | None, typer.Option(help="canary steps in percent, e.g. 5,25,50,100")
    ] = None,
    strategy: Annotated[str, typer.Option(help="canary, ab or shadow")] = "canary",
    replicas: Annotated[int, typer.Option(min=0, max=64)] = 1,
    deploy_id: Annotated[str | None, typer.Option(help="default: made by the gateway")] = None,
    wait: Wait = 30.0,
    json_out: Json = False,
) -> None:
    """Deploy a model version on a route (prod: only a version promoted to prod)."""
    body: dict[str, Any] = {
        "modelId": model_id,
        "env": env,
        "route": route or model_id.split(":", 1)[0],
        "resources": {"replicas": replicas},
    }
    if deploy_id:
        body["deployId"] = deploy_id
    if canary is not None:
        try:
            steps = [int(s) for s in canary.split(",")]
        except ValueError:
            raise fail(
                f"--canary {canary!r}: give whole percentages separated by commas, e.g. 5,25,100"
            ) from None
        body["canaryConfig"] = {"strategy": strategy, "steps": steps}
    doc = _call(ctx, lambda c: c.post("/serve/deploy", body, wait_s=wait))
    if "record" in doc or "refusal" in doc:
        _status(doc, json_out)
    else:
        _show(doc, json_out, f"deployment {doc.get('deployId')} accepted")


@serve_app.command("status")
def status(ctx: typer.Context, deploy_id: str, json_out: Json = False) -> None:
    """A deployment: status, replicas, traffic split, refusal."""
    _status(_call(ctx, lambda c: c.get(f"/serve/{deploy_id}")), json_out)


@serve_app.command("explain")
def explain(ctx: typer.Context, deploy_id: str, json_out: Json = False) -> None:
    """Every record, canary analysis (each statistic and verdict) and scale decision."""
    doc = _call(ctx, lambda c: c.get(f"/serve/{deploy_id}/explain"))
    if json_out:
        _show(doc, True, "")
        return
    for line in explain_lines(doc):
        out.print(line, markup=False, highlight=False)


@serve_app.command("scale")
def scale(
    ctx: typer.Context,
    deploy_id: str,
    replicas: Annotated[int | None, typer.Option(min=0, max=64)] = None,
    min_replicas: Annotated[int | None, typer.Option("--min", min=0, max=64)] = None,
    max_replicas: Annotated[int | None, typer.Option("--max", min=1, max=64)] = None,
    traffic: Annotated[
        int | None, typer.Option(min=0, max=100, help="a canary's traffic: 100 promotes, 0 ends")
    ] = None,
    json_out: Json = False,
) -> None:
    """Scale a deployment, set its autoscaling bounds, or move a rollout by hand."""
    body = {
        k: v
        for k, v in {
            "replicas": replicas,
            "minReplicas": min_replicas,
            "maxReplicas": max_replicas,
            "trafficPercent": traffic,
        }.items()
        if v is not None
    }
    if not body:
        raise fail("say what to change: --replicas, --min, --max or --traffic")
    _show(
        _call(ctx, lambda c: c.post(f"/serve/{deploy_id}/scale", body, wait_s=0)),
        json_out,
        "accepted",
    )


@serve_app.command("rollback")
def rollback(
    ctx: typer.Context,
    deploy_id: str,
    reason: Annotated[str, typer.Option(help="recorded with the rollback")] = "",
    json_out: Json = False,
) -> None:
    """End a canary, or return a route to the version before this one."""
    doc = _call(ctx, lambda c: c.post(f"/serve/{deploy_id}/rollback", {"reason": reason}, wait_s=0))
    _show(doc, json_out, "accepted")


@serve_app.command("predict")
def predict(
    ctx: typer.Context,
    route: str,
    data: Annotated[
        str | None, typer.Option("--input", help="rows as JSON, e.g. [[0.1, 0.2]]")
    ] = None,
    input_file: Annotated[Path | None, typer.Option(help="a JSON file of rows")] = None,
    input_name: Annotated[str, typer.Option(help="the model's input tensor")] = "input",
    router: Annotated[str | None, typer.Option(help="default: COVENANT_ROUTER_URL")] = None,
    json_out: Json = False,
) -> None:
    """Send rows to a route over the Open Inference Protocol and show the answer and
    its provenance."""
    text = input_file.read_text() if input_file is not None else data
    if text is None:
        raise fail("give the rows with --input '[[...]]' or --input-file FILE")
    try:
        rows = json.loads(text)
        if rows and not isinstance(rows[0], list):
            rows = [rows]
        width = len(rows[0])
    except (ValueError, TypeError, IndexError):
        raise fail("the input must be a JSON list of rows of numbers, e.g. [[0.1, 0.2]]") from None
    flat = [float(v) for row in rows for v in row]
    body = {
        "inputs": [
            {"name": input_name, "shape": [len(rows), width], "datatype": "FP32", "data": flat}
        ]
    }
    base = router or os.environ.get("COVENANT_ROUTER_URL") or settings(ctx).router_url
    try:
        answer = httpx.post(f"{base}/v2/models/{route}/infer", json=body, timeout=30)
    except httpx.TransportError as exc:
        raise fail(
            f"cannot reach the router at {base} ({exc}); start it with 'covenant up'"
        ) from None
    if answer.status_code != 200:
        err.print(f"[red]{answer.status_code}[/red]: {answer.text}")
        raise typer.Exit(1)
    result = answer.json()
    provenance = {k: answer.headers[k] for k in _PROVENANCE if k in answer.headers}
    if json_out:
        print(json.dumps({"response": result, "provenance": provenance}, indent=2))
        return
    for tensor in result.get("outputs", []):
        out.print(f"[bold]{tensor['name']}[/bold] {tensor['shape']}: {tensor['data'][:20]}")
    for key, value in provenance.items():
        out.print(f"  [cyan]{key}[/cyan]: {value}")
