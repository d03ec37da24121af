"""What the deployment files' checks share: the names of Covenant's settings."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def setting_names() -> set[str]:
    """Every ``COVENANT_*`` variable Covenant reads: those ``settings.py`` names, and
    the ``COVENANT_GATEWAY_*`` limits it hands to the gateway's own config.

    Read from the source rather than kept as a list here, so a setting added or renamed
    there is what the deployment files are checked against the next run.
    """
    sources = [REPO / "src/covenant/settings.py", REPO / "src/covenant/gateway/config.py"]
    found: set[str] = set()
    for source in sources:
        found |= set(re.findall(r'"(COVENANT_[A-Z0-9_]*[A-Z0-9])"', source.read_text()))
    return found
