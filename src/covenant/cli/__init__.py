"""The ``covenant`` command: one module per command group.

Every command reads the same settings (``COVENANT_HOME``, ``COVENANT_BUS`` ...) and
the log commands accept ``--bus`` to override the log. Output is for people on a
terminal; add ``--json`` where a machine reads it.
"""

from __future__ import annotations

from covenant.cli._app import app, main

__all__ = ["app", "main"]
