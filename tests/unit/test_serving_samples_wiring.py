"""How drift sampling reaches the model servers: the setting, the local replicas'
command line and the Kubernetes container's (pure: no process, no cluster)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from covenant.errors import ConfigError
from covenant.model_server import parser
from covenant.serving.local.supervisor import ServerSpec
from covenant.serving.runtimes import VersionSpec
from covenant.serving.runtimes import kube_manifests as km
from covenant.settings import Settings

SERVER = ServerSpec(
    key="dep-1-1-0-0-stable", model_id="digits:1.0.0", env="sandbox",
    model_path=Path("/m.onnx"), artifact_digest="sha256:" + "00" * 32, manifest_path=None,
    trusted_keys=(),
)  # fmt: skip
VERSION = VersionSpec(
    deploy_id="dep-1", model_id="digits:1.0.0", env="prod", artifact_uri="/m.onnx",
    artifact_digest="sha256:" + "00" * 32, replicas=1, labels={"route": "digits"},
)  # fmt: skip


def _flag(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_the_sample_rate_setting_defaults_to_a_tenth_and_is_checked() -> None:
    assert Settings.from_env({"COVENANT_HOME": "/h"}).drift_sample_rate == 0.1
    env = {"COVENANT_HOME": "/h", "COVENANT_DRIFT_SAMPLE_RATE": "0"}
    assert Settings.from_env(env).drift_sample_rate == 0.0
    for bad in ("1.5", "-0.1", "nan", "often"):
        with pytest.raises(ConfigError, match="COVENANT_DRIFT_SAMPLE_RATE"):
            Settings.from_env({"COVENANT_HOME": "/h", "COVENANT_DRIFT_SAMPLE_RATE": bad})


def test_the_drift_window_settings_are_read_and_checked() -> None:
    home = {"COVENANT_HOME": "/h"}
    plain = Settings.from_env(home)
    assert (plain.drift_window_rows, plain.drift_window_s) == (5000, None)
    assert (plain.drift_alpha, plain.drift_resamples) == (0.05, 2000)
    assert plain.drift_alert_windows == 1
    chosen = Settings.from_env(
        home
        | {
            "COVENANT_DRIFT_WINDOW_ROWS": "1000",
            "COVENANT_DRIFT_WINDOW_S": "60",
            "COVENANT_DRIFT_ALPHA": "0.01",
            "COVENANT_DRIFT_RESAMPLES": "500",
            "COVENANT_DRIFT_ALERT_WINDOWS": "3",
        }
    )
    assert (chosen.drift_window_rows, chosen.drift_window_s) == (1000, 60.0)
    assert (chosen.drift_alpha, chosen.drift_resamples) == (0.01, 500)
    assert chosen.drift_alert_windows == 3
    for name, bad in (
        ("COVENANT_DRIFT_ALPHA", "0"),
        ("COVENANT_DRIFT_ALPHA", "1"),
        ("COVENANT_DRIFT_ALPHA", "5%"),
        ("COVENANT_DRIFT_WINDOW_S", "-3"),
        ("COVENANT_DRIFT_WINDOW_S", "inf"),
        ("COVENANT_DRIFT_WINDOW_ROWS", "0"),
        ("COVENANT_DRIFT_RESAMPLES", "99"),
        ("COVENANT_DRIFT_ALERT_WINDOWS", "0"),
        ("COVENANT_DRIFT_ALERT_WINDOWS", "21"),
        ("COVENANT_DRIFT_ALERT_WINDOWS", "two"),
    ):
        with pytest.raises(ConfigError, match=name):
            Settings.from_env(home | {name: bad})


def test_local_replicas_get_the_flags_only_when_sampling_is_on() -> None:
    assert "--samples-bus" not in SERVER.argv()
    on = replace(
        SERVER, samples_bus="sqlite:////h/log.sqlite3", sample_rate=0.25, route="digits",
        deploy_id="dep-1",
    )  # fmt: skip
    args = on.argv()
    assert _flag(args, "--samples-bus") == "sqlite:////h/log.sqlite3"
    assert _flag(args, "--sample-rate") == "0.25"
    assert (_flag(args, "--route"), _flag(args, "--deploy-id")) == ("digits", "dep-1")
    parsed = parser().parse_args(args[3:])  # what the server reads back
    assert (parsed.sample_rate, parsed.route, parsed.deploy_id) == (0.25, "digits", "dep-1")
    assert "--samples-bus" not in replace(on, sample_rate=0.0).argv()
    assert "--samples-bus" not in replace(on, route="").argv()


def test_kubernetes_servers_get_the_flags_for_their_own_replicas_only() -> None:
    def args(spec: VersionSpec, target: km.KubeTarget) -> list[str]:
        (server,) = km.deployment(spec, target)["spec"]["template"]["spec"]["containers"]
        return list(server["command"])

    assert "--samples-bus" not in args(VERSION, km.KubeTarget())
    target = km.KubeTarget(samples_bus="kafka://kafka.kafka.svc:9092", sample_rate=0.1)
    on = args(VERSION, target)
    assert _flag(on, "--samples-bus") == "kafka://kafka.kafka.svc:9092"
    assert _flag(on, "--sample-rate") == "0.1"
    assert (_flag(on, "--route"), _flag(on, "--deploy-id")) == ("digits", "dep-1")
    assert "--samples-bus" not in args(replace(VERSION, role="baseline"), target)
    assert "--samples-bus" not in args(replace(VERSION, labels={}), target)
    assert "--samples-bus" not in args(VERSION, replace(target, sample_rate=0.0))
