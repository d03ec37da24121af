"""The ``local`` serving runtime: supervised model-server processes on this machine."""

from covenant.serving.local.supervisor import ReplicaPool, ServerSpec

__all__ = ["ReplicaPool", "ServerSpec"]
