"""Covenant: the control plane that takes a model from data to production safely."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
