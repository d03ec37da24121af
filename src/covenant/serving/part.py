"""The serving agent on this machine, as ``covenant up`` runs it: the local runtime,
its router at ``COVENANT_ROUTER_URL`` and the agent reconciling them to the log.

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

__all__ = ["run_local_serving"]


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
        runtime = LocalRuntime(router=router, trusted_keys=keys)
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
