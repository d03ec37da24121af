"""``covenant eval``: evaluate a registered model version, and show an evaluation.

Clients of the gateway (``COVENANT_GATEWAY``) like every other command group, so
the evaluation worker and the gates answer a terminal exactly as they answer an
integration. ``run`` waits for the outcome; the exit status says how it ended (0
every gate passed, 1 a gate failed or the evaluation could not run), so a script or
CI step can gate on it; ``--json`` prints the gateway's document.
"""

from __future__ import annotations

import getpass
import json
from typing import Annotated, Any

import typer
from rich.table import Table

from covenant.cli._support import JsonOption as Json
from covenant.cli._support import out, run, settings
from covenant.client import GatewayClient

eval_app = typer.Typer(
    help="Evaluation runs: score a model version on registered test sets (task metrics, "
    "calibration, fairness, safety checks) and judge it by its family's gates.",
    no_args_is_help=True,
)

WAIT_S = 300.0


def _client(ctx: typer.Context) -> GatewayClient:
    return GatewayClient(settings(ctx).gateway_url, actor=getpass.getuser())


def _table(doc: dict[str, Any]) -> Table:
    verdict = "passed" if doc.get("passed") else "FAILED"
    table = Table(title=f"{doc['evalId']} of {doc['modelId']}: {doc['status']}, {verdict}")
    table.add_column("gate / figure")
    table.add_column("value", justify="right")
    table.add_column("threshold", justify="right")
    table.add_column("ok")
    for gate in doc.get("gates", []):
        mark = "yes" if gate["passed"] else "NO"
        table.add_row(gate["name"], f"{gate['value']:.4f}", f"{gate['threshold']:.4f}", mark)
    task = doc.get("task") or {}
    for name in ("accuracy", "f1Macro", "rocAucOvr"):
        if task.get(name) is not None:
            table.add_row(name, f"{task[name]:.4f}", "", "")
    for fair in doc.get("fairness", []):
        for key in ("demographicParityDifference", "equalizedOddsDifference"):
            table.add_row(f"{fair['attribute']}: {key}", f"{fair[key]:.4f}", "", "")
    for check in doc.get("safety", []):
        table.add_row(f"safety {check['name']}", f"{check['value']:.4f}", "", str(check["passed"]))
    for refusal in doc.get("refusals", []):
        table.add_row(f"refused ({refusal['code']})", refusal["message"], "", "")
    return table


def _end(doc: dict[str, Any], json_out: bool) -> None:
    if json_out:
        print(json.dumps({k: v for k, v in doc.items() if k != "status_code"}, indent=2))
    else:
        out.print(_table(doc))
    if doc.get("status") != "completed" or not doc.get("passed"):
        raise typer.Exit(1)


@eval_app.command("run")
def eval_run(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(metavar="MODEL", help="family:version")],
    test_set: Annotated[
        list[str], typer.Option("--test-set", help="a registered test-set dataset (repeatable)")
    ],
    sensitive_attribute: Annotated[
        str | None, typer.Option(help="the test-set column fairness is computed over")
    ] = None,
    label_column: Annotated[str, typer.Option(help="the test-set column with the truth")] = "label",
    eval_id: Annotated[str | None, typer.Option(help="default: chosen by the gateway")] = None,
    wait: Annotated[float, typer.Option(help="seconds to wait for the outcome")] = WAIT_S,
    json_out: Json = False,
) -> None:
    """Evaluate MODEL on the test sets; exit 0 only when every gate passed."""
    body: dict[str, Any] = {
        "modelId": model,
        "testSetRefs": test_set,
        "metrics": {"labelColumn": label_column, "sensitiveAttribute": sensitive_attribute},
    }
    if eval_id:
        body["evalId"] = eval_id

    async def go() -> dict[str, Any]:
        async with _client(ctx) as client:
            return await client.post("/eval/run", body, wait_s=wait)

    answer = run(go())
    if answer.get("status_code") == 202:
        out.print(f"accepted {answer['evalId']}; see: covenant eval show {answer['evalId']}")
        return
    _end(answer, json_out)


@eval_app.command("show")
def eval_show(
    ctx: typer.Context,
    eval_id: Annotated[str, typer.Argument(metavar="EVAL_ID")],
    json_out: Json = False,
) -> None:
    """An evaluation's figures and gate verdicts, or why it failed."""

    async def go() -> dict[str, Any]:
        async with _client(ctx) as client:
            return await client.get(f"/eval/{eval_id}")

    _end(run(go()), json_out)
