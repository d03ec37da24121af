"""The settings table of ``docs/deployment.md`` names only variables Covenant reads: an
operator copies names from it, and a misspelt one is silently ignored."""

from __future__ import annotations

import re

from deploy_support import REPO, setting_names


def test_every_name_in_the_settings_table_is_a_real_setting() -> None:
    rows = [
        line
        for line in (REPO / "docs/deployment.md").read_text().splitlines()
        if line.startswith("| `COVENANT_")
    ]
    assert len(rows) > 10, "the settings table was not found"
    named = {n for row in rows for n in re.findall(r"`(COVENANT_[A-Z0-9_]*[A-Z0-9])`", row)}
    unknown = named - setting_names()
    assert not unknown, f"not settings Covenant reads (see src/covenant/settings.py): {unknown}"
    assert "COVENANT_DRIFT_ALERT_WINDOWS" in named
