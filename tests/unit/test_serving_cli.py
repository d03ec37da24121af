"""``covenant serve``'s rendering of the evidence, and its argument errors."""

from __future__ import annotations

from typer.testing import CliRunner

from covenant.cli import app
from covenant.cli.serving import explain_lines


def test_explain_shows_each_record_step_and_verdict() -> None:
    doc = {
        "deployId": "d3",
        "history": [{"status": "canary", "trafficPercent": 10, "reason": "ready; canary step 1"}],
        "analyses": [
            {
                "step": 0,
                "trafficPercent": 10,
                "decision": "fail",
                "score": 50.0,
                "nBaseline": 80,
                "nCanary": 81,
                "verdicts": [{"outcome": "fail", "reason": "accuracy: canary 9.0% vs 95.0%"}],
            }
        ],
        "scaling": [{"fromReplicas": 1, "toReplicas": 2, "trigger": "manual", "reason": "asked"}],
    }
    text = "\n".join(explain_lines(doc))
    assert "step 1 at 10 %: fail (score 50; baseline n=80, canary n=81)" in text
    assert "accuracy: canary 9.0% vs 95.0%" in text
    assert "scaled 1 → 2 (manual)" in text


def test_bad_arguments_say_what_to_do() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["serve", "deploy", "digits:1.0.0", "--canary", "5,x"])
    assert result.exit_code == 1
    assert "whole percentages" in result.output
    result = runner.invoke(app, ["serve", "scale", "d1"])
    assert result.exit_code == 1
    assert "--replicas" in result.output
    result = runner.invoke(app, ["serve", "predict", "digits", "--input", "nope"])
    assert result.exit_code == 1
    assert "JSON list of rows" in result.output


def test_the_demo_prints_its_serving_step(capsys: object) -> None:
    from covenant.cli._demo_serving import ServingResult
    from covenant.cli.demo import _serving

    result = ServingResult(
        router="http://127.0.0.1:9",
        staging="staging-1 serving digits:1.0.0 on route digits-staging",
        prod="prod-1 serving digits:1.0.0 on route digits",
        refused="not_promoted: vision-transformer:1.0.0 is in draft",
        predictions=[
            {
                "label": 0,
                "prediction": 0,
                "modelId": "digits:1.0.0",
                "signerId": "ed25519:00112233aabbccdd",
                "artifactDigest": "sha256:" + "ab" * 32,
                "traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01",
            }
        ],
    )
    _serving(result)
    text = capsys.readouterr().out  # type: ignore[attr-defined]
    assert "prod-1 serving digits:1.0.0" in text
    assert "not_promoted" in text
    assert "predicted   0 (label 0) by digits:1.0.0" in text
