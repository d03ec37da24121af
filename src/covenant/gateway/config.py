"""The gateway's own limits, read once into an immutable object.

They live beside the gateway rather than in ``covenant.settings`` because only the
gateway reads them; like every setting they come from ``COVENANT_*`` variables
through an injectable environment, so tests never edit ``os.environ``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from covenant.errors import ConfigError
from covenant.settings import Settings

GIB = 1024**3
MIB = 1024**2

_ENV = {
    "max_upload_bytes": "COVENANT_GATEWAY_MAX_UPLOAD_BYTES",
    "max_json_bytes": "COVENANT_GATEWAY_MAX_JSON_BYTES",
    "max_wait_s": "COVENANT_GATEWAY_MAX_WAIT_S",
    "max_waiters": "COVENANT_GATEWAY_MAX_WAITERS",
    "remembered_outcomes": "COVENANT_GATEWAY_REMEMBERED_OUTCOMES",
}


class GatewayConfig(BaseModel):
    """How much the gateway accepts and remembers.

    Attributes:
        max_upload_bytes: largest artifact upload; a longer body gets 413 and
            leaves nothing stored.
        max_json_bytes: largest JSON command body; commands are small, and this
            bounds what one request can make the gateway buffer.
        max_wait_s: longest ``?wait=`` a caller may ask for; a longer wait ties up
            a connection that a 202 and a status link would free.
        max_waiters: how many requests may wait for outcomes at once; beyond it a
            request is still accepted, but answered 202 at once.
        remembered_outcomes: how many recent outcomes ``GET /commands/{id}`` can
            answer from memory (each is one decoded event).
        producer: ``meta.producer`` of the commands the gateway writes.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_upload_bytes: int = Field(default=5 * GIB, gt=0)
    max_json_bytes: int = Field(default=1 * MIB, gt=0)
    max_wait_s: float = Field(default=60.0, gt=0)
    max_waiters: int = Field(default=10_000, ge=0)
    remembered_outcomes: int = Field(default=10_000, ge=0)
    producer: str = Field(default="gateway", min_length=1)

    @classmethod
    def from_settings(cls, settings: Settings) -> GatewayConfig:
        """The limits from the variables ``settings`` captured when it was read."""
        return cls.from_env(settings.gateway_env)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GatewayConfig:
        """Read ``COVENANT_GATEWAY_*`` variables; unset ones keep their defaults.

        Raises:
            ConfigError: naming the variable whose value cannot work.
        """
        env = os.environ if env is None else env
        given = {field: env[name] for field, name in _ENV.items() if env.get(name)}
        try:
            return cls.model_validate(given)
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            raise ConfigError(f"gateway settings ({', '.join(_ENV.values())}): {exc}") from exc
