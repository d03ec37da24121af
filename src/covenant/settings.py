"""Settings, read once from the environment (``COVENANT_*``) into an immutable object.

The environment is injectable (``Settings.from_env(env)``), so tests never edit
``os.environ``. With nothing set, everything is embedded under ``~/.covenant``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict


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
    """

    model_config = ConfigDict(frozen=True)

    home: Path
    bus_url: str
    store_url: str
    blobs_url: str
    gateway_url: str

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
        )
