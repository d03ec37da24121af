"""The Kubernetes ConfigMap names only settings Covenant reads, and no secret.

Covenant ignores a ``COVENANT_*`` variable it does not know, so a misspelt key in
``settings.yaml`` would leave the pod on an embedded default (a SQLite file inside
an emptyDir) without a word; the API server cannot catch that, this can.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlparse

import yaml

from deploy_support import setting_names

REPO = Path(__file__).resolve().parents[2]
SETTINGS = REPO / "deploy" / "kubernetes" / "covenant" / "settings.yaml"


def test_every_key_is_a_setting_and_the_engines_are_production_ones() -> None:
    data = yaml.safe_load(SETTINGS.read_text())["data"]
    unknown = set(data) - setting_names()
    assert not unknown, f"not settings Covenant reads (src/covenant/settings.py): {unknown}"
    store = urlparse(data["COVENANT_STORE"])
    assert store.scheme == "postgresql"
    assert store.password is None, "the password is PGPASSWORD, from a Secret"
    assert parse_qs(store.query)["sslmode"] == ["verify-full"]
    assert urlparse(data["COVENANT_BLOBS"]).scheme == "s3"
    assert data["COVENANT_BUS"].startswith("kafka://")
    assert urlparse(data["COVENANT_GATEWAY"]).hostname == "0.0.0.0"
    assert data["COVENANT_SIGNER"].startswith("https://"), "a pod keeps no signing key"
