"""What ``covenant eval`` prints and exits with, from the gateway's documents alone."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from rich.console import Console

from covenant.cli.evaluation import _end, _table


def doc(passed: bool) -> dict[str, Any]:
    return {
        "evalId": "e1",
        "modelId": "digits:1.0.0",
        "status": "completed",
        "passed": passed,
        "gates": [
            {
                "name": "min_accuracy",
                "threshold": 0.9,
                "value": 0.95 if passed else 0.5,
                "passed": passed,
            },
        ],
        "task": {"accuracy": 0.95, "f1Macro": 0.94, "rocAucOvr": 0.99},
        "fairness": [
            {
                "attribute": "group",
                "demographicParityDifference": 0.01,
                "equalizedOddsDifference": 0.02,
            },
        ],
        "safety": [{"name": "probabilities_valid", "value": 0.0, "passed": True}],
        "refusals": [],
    }


def test_the_table_names_every_gate_and_figure() -> None:
    console = Console(width=160, record=True)
    console.print(_table(doc(False)))
    text = console.export_text()
    for word in ("FAILED", "min_accuracy", "0.5000", "0.9000", "f1Macro", "group:", "safety"):
        assert word in text


def test_the_exit_status_is_the_verdict() -> None:
    _end(doc(True), json_out=True)
    with pytest.raises(typer.Exit) as failed:
        _end(doc(False), json_out=True)
    assert failed.value.exit_code == 1
    refused = {"evalId": "e2", "modelId": "m:1", "status": "failed", "refusals": []}
    with pytest.raises(typer.Exit):
        _end(refused, json_out=True)
