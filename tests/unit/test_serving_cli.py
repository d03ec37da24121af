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
    from covenant.cli._demo_canary import CanaryResult
    from covenant.cli._demo_serving import ServingResult
    from covenant.cli.demo import _serving

    canary = CanaryResult(
        plan="steps 25 %, 50 %, 100 %; 50 canary requests a step",
        passed="prod-2 serving digits:1.1.0 on route digits",
        passed_percent=100,
        passed_steps=["  step 1 at 25 %: pass (score 100; baseline n=61, canary n=60)"],
        rolled_back="prod-3 (digits:1.2.0)",
        rollback_status="rolled_back",
        rollback_reason="canary failed step 1: fail: critical metric accuracy failed",
        explanation=["prod-3:", "  step 1 at 25 %: fail (score 33; baseline n=33, canary n=42)"],
        client_ok=1859,
        seconds=29.3,
    )
    result = ServingResult(
        canary=canary,
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
    assert "prod-2 serving digits:1.1.0 on route digits at 100 %" in text
    assert "rolled back prod-3 (digits:1.2.0) by itself (rolled_back): canary failed" in text
    assert "step 1 at 25 %: fail (score 33" in text
    assert "1859 requests answered, 0 failed" in text
