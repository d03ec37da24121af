"""Model files and manifests on this machine, for the local runtime's servers.

A local model server loads a file, so the agent copies what a deployment serves out
of the artifact store into a cache folder first (once per content address: the
bytes under one address never change) and writes the deployment's DSSE envelope
beside it. Nothing here is trusted: the server checks the file's digest, the
envelope's signature against its trust anchors and the watermark before it loads.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path

from covenant.blobs.protocol import BlobStore, parse_artifact_id
from covenant.events.serving import TERMINAL, DeploymentRecord
from covenant.serving.state import ServingState

__all__ = ["LocalArtifacts"]


class LocalArtifacts:
    """Fetches served files and manifests into ``folder``; ``locate`` names them."""

    def __init__(self, blobs: BlobStore, folder: Path, state: ServingState) -> None:
        self._blobs = blobs
        self._folder = folder
        self._state = state

    def _model_path(self, record: DeploymentRecord) -> Path:
        digest = parse_artifact_id(record.provenance.served_artifact_id)
        return self._folder / f"{digest}.onnx"

    def _manifest_path(self, record: DeploymentRecord) -> Path | None:
        if record.provenance.manifest_id is None:
            return None
        return self._folder / f"{parse_artifact_id(record.provenance.served_artifact_id)}.dsse.json"

    def locate(self, record: DeploymentRecord) -> tuple[str, str | None]:
        """The model file and manifest paths of ``record`` (see ``prepare``)."""
        manifest = self._manifest_path(record)
        return str(self._model_path(record)), str(manifest) if manifest else None

    async def prepare(self, records: Sequence[DeploymentRecord]) -> None:
        """Copy in what the live deployments serve; a file already here is kept."""
        self._folder.mkdir(parents=True, exist_ok=True)
        for record in records:
            if record.status in TERMINAL:
                continue
            path = self._model_path(record)
            if not path.exists():
                await self._fetch(record.provenance.served_artifact_id, path)
            manifest = self._manifest_path(record)
            signature = self._state.promotion.signatures.get(record.model_id)
            if manifest is not None and signature is not None and not manifest.exists():
                _write_atomically(manifest, signature.envelope.encode())

    async def _fetch(self, artifact_id: str, path: Path) -> None:
        partial = path.with_suffix(".partial")
        try:
            with partial.open("wb") as out:
                async for chunk in await self._blobs.open(artifact_id):
                    out.write(chunk)
            os.replace(partial, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()


def _write_atomically(path: Path, data: bytes) -> None:
    partial = path.with_suffix(".partial")
    partial.write_bytes(data)
    os.replace(partial, path)
