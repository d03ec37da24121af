"""Settings, read once from the environment (``COVENANT_*``) into an immutable object.

The environment is injectable (``Settings.from_env(env)``), so tests never edit
``os.environ``. Each process reads it once, at its entry point (the ``covenant``
command's root, ``python -m`` mains), and hands the object to every part it runs.
With nothing set, everything is embedded under ``~/.covenant``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from covenant.errors import ConfigError


class Settings(BaseModel):
    """Where Covenant keeps things and which engines it uses.

    Attributes:
        home: folder for the embedded defaults (``COVENANT_HOME``).
        bus_url: the log (``COVENANT_BUS``): ``sqlite:///…`` or ``kafka://host:port``;
            empty means the embedded log at ``<home>/log.sqlite3``.
        store_url: the read models (``COVENANT_STORE``): ``sqlite:///…`` or
            ``postgresql://…``; empty means ``<home>/read.sqlite3``.
        blobs_url: the artifact store (``COVENANT_BLOBS``): a folder (``file:///…``)
            or ``s3://bucket/prefix?endpoint=…``; empty means ``<home>/blobs``.
        gateway_url: where the CLI finds the HTTP gateway (``COVENANT_GATEWAY``);
            ``covenant up`` serves it there.
        partitions: partitions of each command and event topic when Covenant
            creates it (``COVENANT_PARTITIONS``, default 3; not a ceiling): the
            most instances of one worker that can share its work. Existing topics
            keep theirs.
        pools_path: the compute pools file (``COVENANT_POOLS``, TOML; see
            ``covenant.training.pools``); None means the built-in ``cpu-local`` pool.
        ray_address: a Ray cluster's job-submission address (``COVENANT_RAY``, e.g.
            ``http://127.0.0.1:8265``); empty means no ``ray`` executor.
        default_executor: where a job that names none runs (``COVENANT_EXECUTOR``,
            ``local`` unless set).
        policies_path: a folder of policy files (``COVENANT_POLICIES``, one ``*.toml``
            per stage; see ``covenant.policy``), replacing the built-in ones; None
            means the built-in policies.
        policy_timeout_s: how long a job waits for its pre-train policy decision,
            and a promotion for its pre-promotion one, before it fails closed
            (``COVENANT_POLICY_TIMEOUT_S``, default 30).
        approvers_path: the approvers file (``COVENANT_APPROVERS``, TOML; see
            ``covenant.promotion.approvers``): who may approve high-risk promotions;
            None means nobody, so those promotions are blocked.
        gateway_env: the ``COVENANT_GATEWAY_*`` limits as given, parsed by the
            gateway (``GatewayConfig.from_settings``), which alone reads them.
        signer: which key signs audit checkpoints (``COVENANT_SIGNER``): empty (the
            development key under the home folder), ``file:/path/key.pem``, an RFC 7512
            ``pkcs11:`` URI, or the signing proxy's ``https://…/v1/keys/<label>``;
            parsed by ``covenant.signing.config.open_signer``, which lists the forms.
        signer_cert, signer_key, signer_ca: this client's TLS certificate and key, and
            the CA that signed the proxy's certificate (``COVENANT_SIGNER_CERT``,
            ``COVENANT_SIGNER_KEY``, ``COVENANT_SIGNER_CA``), for an ``https://`` signer.
        router_url: where the serving router answers Open Inference Protocol requests
            (``COVENANT_ROUTER_URL``); ``covenant up`` serves it there and
            ``covenant serve predict`` sends to it.
        trusted_keys: the PEM public keys a staging or prod model server accepts a
            manifest signature from (``COVENANT_TRUSTED_KEYS``, paths separated by
            ``:``); empty means the configured signer's own public key. The key in a
            manifest is never trusted because it is there: a re-signed model is refused.
        serving_runtime: where model servers run (``COVENANT_SERVING_RUNTIME``):
            ``local`` (the default: supervised processes behind the router) or
            ``kubernetes`` (objects in the cluster ``covenant up`` runs in, with its
            pod's service account; ``covenant.serving.runtimes.kubernetes``).
        kube_namespace: the namespace the ``kubernetes`` runtime writes to
            (``COVENANT_KUBE_NAMESPACE``; default the pod's own).
        drift_sample_rate: the share of answered rows each model server publishes
            to the drift samples topic on the platform's own log
            (``COVENANT_DRIFT_SAMPLE_RATE``, 0 to 1, default 0.1; 0 turns it off). On
            the ``kubernetes`` runtime only a ``kafka://`` log is passed to the pods.
        drift_window_rows: samples per drift window, per deployment
            (``COVENANT_DRIFT_WINDOW_ROWS``, default 5000).
        drift_window_s: also close a window this many seconds of event time after
            its first sample (``COVENANT_DRIFT_WINDOW_S``; default none: by count only).
        drift_alpha: the false-alarm rate per window over all columns
            (``COVENANT_DRIFT_ALPHA``, default 0.05).
        drift_resamples: bootstrap resamples per threshold calibration
            (``COVENANT_DRIFT_RESAMPLES``, default 2000).
        drift_alert_windows: consecutive drifted windows of a deployment before an
            alert (``COVENANT_DRIFT_ALERT_WINDOWS``, 1 to 20, default 1). Each window
            false-alarms at ``drift_alpha``; k in a row at about ``drift_alpha`` to the
            k on a stream that has not drifted, k windows later on one that has.
    """

    model_config = ConfigDict(frozen=True)

    home: Path
    bus_url: str
    store_url: str
    blobs_url: str
    gateway_url: str
    partitions: int = Field(default=3, ge=1)
    pools_path: Path | None = None
    ray_address: str = ""
    default_executor: str = "local"
    policies_path: Path | None = None
    policy_timeout_s: int = Field(default=30, ge=1)
    approvers_path: Path | None = None
    gateway_env: dict[str, str] = Field(default_factory=dict)
    signer: str = ""
    signer_cert: Path | None = None
    signer_key: Path | None = None
    signer_ca: Path | None = None
    router_url: str = "http://127.0.0.1:8090"
    trusted_keys: tuple[Path, ...] = ()
    serving_runtime: Literal["local", "kubernetes"] = "local"
    kube_namespace: str = ""
    drift_sample_rate: float = Field(default=0.1, ge=0.0, le=1.0)
    drift_window_rows: int = Field(default=5000, ge=1)
    drift_window_s: float | None = Field(default=None, gt=0)
    drift_alpha: float = Field(default=0.05, gt=0.0, lt=1.0)
    drift_resamples: int = Field(default=2000, ge=100)
    drift_alert_windows: int = Field(default=1, ge=1, le=20)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        home = Path(env.get("COVENANT_HOME") or Path.home() / ".covenant").expanduser()
        return cls(
            home=home,
            bus_url=env.get("COVENANT_BUS") or f"sqlite:///{home / 'log.sqlite3'}",
            store_url=env.get("COVENANT_STORE") or f"sqlite:///{home / 'read.sqlite3'}",
            blobs_url=env.get("COVENANT_BLOBS") or f"file://{home / 'blobs'}",
            gateway_url=env.get("COVENANT_GATEWAY") or "http://127.0.0.1:8750",
            partitions=_positive(env, "COVENANT_PARTITIONS", 3),
            pools_path=Path(pools).expanduser() if (pools := env.get("COVENANT_POOLS")) else None,
            ray_address=env.get("COVENANT_RAY", ""),
            default_executor=env.get("COVENANT_EXECUTOR") or "local",
            policies_path=Path(p).expanduser() if (p := env.get("COVENANT_POLICIES")) else None,
            policy_timeout_s=_positive(env, "COVENANT_POLICY_TIMEOUT_S", 30),
            approvers_path=Path(a).expanduser() if (a := env.get("COVENANT_APPROVERS")) else None,
            gateway_env={k: v for k, v in env.items() if k.startswith("COVENANT_GATEWAY_")},
            signer=env.get("COVENANT_SIGNER", ""),
            signer_cert=_path(env, "COVENANT_SIGNER_CERT"),
            signer_key=_path(env, "COVENANT_SIGNER_KEY"),
            signer_ca=_path(env, "COVENANT_SIGNER_CA"),
            router_url=env.get("COVENANT_ROUTER_URL") or "http://127.0.0.1:8090",
            trusted_keys=tuple(
                Path(k).expanduser() for k in env.get("COVENANT_TRUSTED_KEYS", "").split(":") if k
            ),
            serving_runtime=_choice(env, "COVENANT_SERVING_RUNTIME", ("local", "kubernetes")),
            kube_namespace=env.get("COVENANT_KUBE_NAMESPACE", ""),
            drift_sample_rate=_share(env, "COVENANT_DRIFT_SAMPLE_RATE", 0.1),
            drift_window_rows=_positive(env, "COVENANT_DRIFT_WINDOW_ROWS", 5000),
            drift_window_s=_seconds(env, "COVENANT_DRIFT_WINDOW_S"),
            drift_alpha=_rate(env, "COVENANT_DRIFT_ALPHA", 0.05),
            drift_resamples=_positive(env, "COVENANT_DRIFT_RESAMPLES", 2000, least=100),
            drift_alert_windows=_positive(env, "COVENANT_DRIFT_ALERT_WINDOWS", 1, most=20),
        )


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> Any:
    value = env.get(name) or choices[0]
    if value not in choices:
        raise ConfigError(f"{name}={value!r} is not one of {', '.join(choices)}")
    return value


def _path(env: Mapping[str, str], name: str) -> Path | None:
    text = env.get(name)
    return Path(text).expanduser() if text else None


def _share(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:  # NaN fails too
        raise ConfigError(f"{name}={text!r}: give a number from 0 to 1")
    return value


def _rate(env: Mapping[str, str], name: str, default: float) -> float:
    """A false-alarm rate: 0 would never alarm and 1 always, so both are refused."""
    value = _share(env, name, default)
    if value in (0.0, 1.0):
        raise ConfigError(f"{name}={env.get(name)!r}: give a rate strictly between 0 and 1")
    return value


def _seconds(env: Mapping[str, str], name: str) -> float | None:
    text = env.get(name)
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 < value < float("inf"):  # NaN fails too
        raise ConfigError(f"{name}={text!r}: give a positive number of seconds")
    return value


def _positive(
    env: Mapping[str, str], name: str, default: int, least: int = 1, most: int | None = None
) -> int:
    text = env.get(name)
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = least - 1
    if value < least or (most is not None and value > most):
        span = f"from {least} to {most}" if most is not None else f"of at least {least}"
        raise ConfigError(f"{name}={text!r}: give a whole number {span}")
    return value
