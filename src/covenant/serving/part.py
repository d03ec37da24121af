"""The serving agent as ``covenant up`` runs it: the agent reconciling a runtime to
the log, on the local runtime with its router at ``COVENANT_ROUTER_URL``, or on the
``kubernetes`` runtime (``COVENANT_SERVING_RUNTIME=kubernetes``) in the cluster the
control plane runs in.

Imported only when serving runs: the model servers need the ``serve`` extra
(onnxruntime, scipy, uvloop, httptools, aiohttp).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlparse

from covenant.blobs.protocol import BlobStore
from covenant.bus.protocol import Bus
from covenant.events.codec import Codec
from covenant.settings import Settings

__all__ = ["run_kubernetes_serving", "run_local_serving"]


async def run_local_serving(
    *,
    settings: Settings,
    bus: Bus,
    codec: Codec,
    blobs: BlobStore,
    stop: asyncio.Event,
    trusted_keys: tuple[Path, ...] | None = None,
) -> None:
    """Run the router and the agent until ``stop`` is set; replicas stop with them."""
    from covenant.dataplane.router import Router
    from covenant.serving.agent import ServingAgent
    from covenant.serving.artifacts import LocalArtifacts
    from covenant.serving.runtimes.local import LocalRuntime
    from covenant.serving.state import ServingState

    where = urlparse(settings.router_url)
    router = Router()
    await router.start(host=where.hostname or "127.0.0.1", port=where.port or 8090)
    try:
        keys = trusted_keys if trusted_keys is not None else settings.trusted_keys
        if not keys:
            keys = (await _signer_key(settings),)
        runtime = LocalRuntime(
            router=router,
            trusted_keys=keys,
            samples_bus=settings.bus_url,
            sample_rate=settings.drift_sample_rate,
        )
        state = ServingState()
        artifacts = LocalArtifacts(blobs, settings.home / "serving" / "models", state)
        agent = ServingAgent(
            bus=bus,
            codec=codec,
            runtime=runtime,
            locate=artifacts.locate,
            meter=runtime,
            prepare=artifacts.prepare,
            state=state,
        )
        await agent.run(stop)
    finally:
        await router.close()


SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


async def run_kubernetes_serving(
    *, settings: Settings, bus: Bus, codec: Codec, blobs: BlobStore, stop: asyncio.Event
) -> None:
    """Run the agent on the ``kubernetes`` runtime with this pod's service account.

    The cluster's Gateway implementation carries the traffic, so there is no router
    here and no per-arm meter: canary analysis needs the arms' samples, which the
    local router records and a cluster's metrics pipeline would have to provide. A
    canary on this runtime therefore waits at its first step, with no window scored,
    until a person promotes or rolls it back; deploy, scale, A/B and rollback work.
    """
    import os

    from covenant.errors import ConfigError
    from covenant.serving.agent import ServingAgent
    from covenant.serving.artifacts import LocalArtifacts
    from covenant.serving.runtimes.kube_manifests import KubeTarget
    from covenant.serving.runtimes.kubernetes import KubernetesRuntime
    from covenant.serving.state import ServingState

    host, port = (
        os.environ.get("KUBERNETES_SERVICE_HOST"),
        os.environ.get("KUBERNETES_SERVICE_PORT"),
    )
    token = SERVICE_ACCOUNT / "token"
    if not host or not token.exists():
        raise ConfigError(
            "COVENANT_SERVING_RUNTIME=kubernetes runs inside a cluster (no "
            "KUBERNETES_SERVICE_HOST or service-account token here); unset it to serve locally"
        )
    namespace = settings.kube_namespace or (SERVICE_ACCOUNT / "namespace").read_text().strip()
    gateway_port = urlparse(settings.gateway_url).port or 8750
    runtime = KubernetesRuntime.connect(
        f"https://{host}:{port or 443}",
        token.read_text().strip(),
        ca_file=SERVICE_ACCOUNT / "ca.crt",
        # the model pods fetch artifacts from the control plane's Service (named
        # covenant, as deploy/kubernetes/covenant/ names it), not its bind address
        target=KubeTarget(
            namespace=namespace,
            control_plane_url=f"http://covenant.{namespace}.svc:{gateway_port}",
            # a model pod reaches the brokers, never the control plane's SQLite file
            samples_bus=settings.bus_url if settings.bus_url.startswith("kafka://") else "",
            sample_rate=settings.drift_sample_rate,
        ),
    )
    state = ServingState()
    # only the manifests are needed here (pods fetch the model themselves), but the
    # cache also holds the model bytes: one copy per served version
    artifacts = LocalArtifacts(blobs, settings.home / "serving" / "models", state)
    agent = ServingAgent(
        bus=bus, codec=codec, runtime=runtime, locate=artifacts.locate,
        prepare=artifacts.prepare, state=state,
    )  # fmt: skip
    await agent.run(stop)


async def _signer_key(settings: Settings) -> Path:
    """The configured signer's public key as a trust anchor file: with no
    ``COVENANT_TRUSTED_KEYS``, servers trust the key Covenant's notary signs with."""
    from covenant.signing.config import open_signer

    async with open_signer(settings) as signer:
        pem, key_id = signer.public_key_pem(), signer.key_id
    folder = settings.home / "serving" / "trusted"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{key_id.replace(':', '-')}.pem"
    path.write_bytes(pem)
    return path
