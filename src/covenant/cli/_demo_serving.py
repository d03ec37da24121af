"""The demo's serving step (step 5's "deployed"): the promoted model on real model
servers behind the router, in staging and in prod, a prod deployment of an
unpromoted version refused, then two more versions canaried in prod under client
load (one passes to 100 %, one with a planted regression is rolled back by itself;
:mod:`covenant.cli._demo_canary`), and a few predictions with the provenance each
answer carries.

The servers check the model before loading it, in prod against the HSM key's public
half as the only trust anchor. The two canaried versions are trained and promoted
(:mod:`covenant.cli._demo_versions`) while the first is being deployed, so the
canaries wait on them as little as possible.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from covenant.cli._demo_canary import ONE_REPLICA, CanaryResult, run_canaries
from covenant.cli._demo_drift import DriftResult, run_drift
from covenant.cli._demo_example import DemoError
from covenant.cli._demo_training import _ask, _Watch
from covenant.cli._demo_versions import make_versions
from covenant.events.serving import (
    DeploymentRecorded,
    DeploymentRefused,
    DeploymentStatus,
    DeployModel,
)
from covenant.platform import Platform
from covenant.topics import SERVE_EVENTS, Topic

__all__ = ["ServingResult", "run_serving"]


@dataclass
class ServingResult:
    """What the serving step did, for the terminal and for ``--json``."""

    router: str = ""
    staging: str = ""
    prod: str = ""
    refused: str = ""
    canary: CanaryResult | None = None
    drift: DriftResult | None = None
    predictions: list[dict[str, Any]] = field(default_factory=list)


class _ServingWatch(_Watch):
    TOPICS: tuple[Topic, ...] = (SERVE_EVENTS,)


def _settled(deploy_id: str) -> Callable[[DeploymentRecorded], bool]:
    ended = (DeploymentStatus.SERVING, DeploymentStatus.FAILED)
    return lambda m: m.record.deploy_id == deploy_id and m.record.status in ended


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def run_serving(
    platform: Platform,
    model_id: str,
    draft_model_id: str,
    trusted_key: bytes,
    source: Path,
    code_ref: str,
    progress: Callable[[str], None],
) -> ServingResult:
    """Deploy ``model_id`` to staging and prod, try ``draft_model_id`` in prod, canary
    two new versions (trained from ``source`` at ``code_ref``) and predict."""
    from covenant.serving.part import run_local_serving

    home = platform.settings.home
    anchor = home / "serving-trust.pem"
    anchor.write_bytes(trusted_key)
    router = f"http://127.0.0.1:{_free_port()}"
    settings = platform.settings.model_copy(update={"router_url": router})
    result = ServingResult(router=router)
    watch = _ServingWatch(platform, progress)
    following = asyncio.create_task(watch.follow())
    versions = asyncio.create_task(make_versions(platform, source, code_ref, progress))
    stop = asyncio.Event()
    serving = asyncio.create_task(
        run_local_serving(
            settings=settings,
            bus=platform.bus,
            codec=platform.codec,
            blobs=platform.blobs,
            stop=stop,
            trusted_keys=(anchor,),
        )
    )
    try:
        for env, route in (("staging", "digits-staging"), ("prod", "digits")):
            progress(f"serving: {model_id} to {env} (route {route}), servers check the manifest")
            deploy_id = f"{env}-1"
            await platform.publish(
                _ask(
                    DeployModel,
                    f"route:{route}",
                    deploy_id=deploy_id,
                    model_id=model_id,
                    env=env,
                    route=route,
                    resources=ONE_REPLICA,
                )
            )
            done = await watch.first(
                DeploymentRecorded, _settled(deploy_id), f"the {env} deployment"
            )
            if done.record.status is not DeploymentStatus.SERVING:
                raise DemoError(f"the {env} deployment failed: {done.record.reason}")
            setattr(result, env, f"{deploy_id} serving {model_id} on route {route}")
        progress("serving: an unpromoted version to prod (must be refused)")
        await platform.publish(
            _ask(
                DeployModel,
                "route:digits",
                deploy_id="prod-draft",
                model_id=draft_model_id,
                env="prod",
                route="digits",
            )
        )
        refused = await watch.first(
            DeploymentRefused, lambda m: m.deploy_id == "prod-draft", "the refusal"
        )
        result.refused = f"{refused.code}: {refused.reason}"
        healthy, regressed = await versions
        result.canary = await run_canaries(platform, watch, router, healthy, regressed, progress)
        result.predictions = await _predict(router)
        result.drift = await run_drift(
            platform, router, healthy, "prod-2", source, code_ref, progress
        )
    finally:
        versions.cancel()
        stop.set()
        await serving
        following.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):  # raised above
            await versions
    return result


async def _predict(router: str) -> list[dict[str, Any]]:
    from sklearn.datasets import load_digits

    data = load_digits()
    rows: list[dict[str, Any]] = []
    async with httpx.AsyncClient(base_url=router, timeout=30) as client:
        for i in (0, 1, 2):
            body = {
                "inputs": [
                    {
                        "name": "pixels",
                        "shape": [1, 64],
                        "datatype": "FP32",
                        "data": [float(v) / 16.0 for v in data.data[i]],  # as trained
                    }
                ]
            }
            answer = await client.post("/v2/models/digits/infer", json=body)
            if answer.status_code != 200:
                raise DemoError(f"the router answered {answer.status_code}: {answer.text}")
            outputs = answer.json()["outputs"]
            rows.append(
                {
                    "label": int(data.target[i]),
                    "prediction": outputs[0]["data"][0],
                    "modelId": answer.headers.get("x-covenant-model-id"),
                    "signerId": answer.headers.get("x-covenant-signer-id"),
                    "artifactDigest": answer.headers.get("x-covenant-artifact-digest"),
                    "traceparent": answer.headers.get("traceparent"),
                }
            )
    return rows
