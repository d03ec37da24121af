"""docker-compose.yml runs Covenant on its engines, reachable, and keeps its state.

No test starts Docker, so the file is read as data: a misspelt ``COVENANT_*`` name
is silently ignored by Covenant (the embedded default wins, and the data lands inside
the container), and a gateway bound to loopback answers nobody; both look fine until
someone loses their artifacts. These checks make those mistakes fail here instead.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from deploy_support import setting_names

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
STATEFUL = {
    "kafka": "/var/lib/kafka/data",
    "postgres": "/var/lib/postgresql/data",
    "minio": "/data",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(document, dict)
    return document


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # the KEY=VALUE list form
        return dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _published(service: dict[str, Any]) -> list[tuple[str, int]]:
    """(host address, container port) of each published port; "" is every address."""
    out = []
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            out.append((str(port.get("host_ip", "")), int(port["target"])))
            continue
        text = str(port).split("/", 1)[0]
        parts = text.rsplit(":", 2)
        host_ip = parts[0] if len(parts) == 3 else ""
        out.append((host_ip, int(parts[-1])))
    return out


def test_setting_names_are_found() -> None:
    # Guards the regex above: if settings.py changed its style, every name would be
    # "unknown" and the next test would pass vacuously or fail for the wrong reason.
    names = setting_names()
    assert {"COVENANT_BUS", "COVENANT_STORE", "COVENANT_BLOBS", "COVENANT_GATEWAY"} <= names
    assert "COVENANT_GATEWAY_MAX_UPLOAD_BYTES" in names


def test_every_covenant_variable_is_a_real_setting(compose: dict[str, Any]) -> None:
    names = setting_names()
    unknown = {
        (service_name, key)
        for service_name, service in compose["services"].items()
        for key in _environment(service)
        if key.startswith("COVENANT_")
        and key not in names
        # minio-init's secret for the app user is compose's own, not Covenant's.
        and service_name != "minio-init"
    }
    assert not unknown, f"not settings Covenant reads (see src/covenant/settings.py): {unknown}"


def test_covenant_uses_the_engines_not_its_container(compose: dict[str, Any]) -> None:
    env = _environment(compose["services"]["covenant"])
    assert env["COVENANT_BUS"].startswith("kafka://kafka:")
    assert urlparse(env["COVENANT_STORE"]).scheme == "postgresql"
    assert urlparse(env["COVENANT_STORE"]).hostname == "postgres"
    blobs = urlparse(env["COVENANT_BLOBS"])
    assert blobs.scheme == "s3"
    assert "endpoint=http://minio:9000" in blobs.query
    # The S3 adapter takes credentials from the AWS default chain, not from a setting.
    assert env["AWS_ACCESS_KEY_ID"]
    assert env["AWS_SECRET_ACCESS_KEY"]
    assert urlparse(env["COVENANT_STORE"]).password is None, "PGPASSWORD carries it"


def test_the_gateway_is_bound_and_published_beyond_loopback(compose: dict[str, Any]) -> None:
    service = compose["services"]["covenant"]
    gateway = urlparse(_environment(service)["COVENANT_GATEWAY"])
    assert gateway.hostname == "0.0.0.0", "covenant up binds COVENANT_GATEWAY's host"
    published = _published(service)
    assert any(port == gateway.port and ip not in LOOPBACK for ip, port in published), published


def test_the_stateful_services_keep_their_data_on_named_volumes(
    compose: dict[str, Any],
) -> None:
    declared = set(compose.get("volumes") or {})
    for name, target in {**STATEFUL, "covenant": "/var/lib/covenant"}.items():
        mounts = [str(m) for m in compose["services"][name].get("volumes") or []]
        sources = {m.split(":", 1)[0] for m in mounts if m.split(":")[1] == target}
        assert sources & declared, f"{name}: no named volume at {target} ({mounts})"
    kafka = _environment(compose["services"]["kafka"])
    assert kafka["KAFKA_LOG_DIRS"] == STATEFUL["kafka"], "Kafka must write where its volume is"


def test_covenant_starts_after_its_engines_are_ready(compose: dict[str, Any]) -> None:
    services = compose["services"]
    depends = services["covenant"]["depends_on"]
    assert depends["kafka"]["condition"] == "service_healthy"
    assert depends["postgres"]["condition"] == "service_healthy"
    assert depends["minio-init"]["condition"] == "service_completed_successfully"
    assert services["minio-init"]["depends_on"]["minio"]["condition"] == "service_healthy"
    for name in ("kafka", "postgres", "minio", "covenant"):
        assert services[name]["healthcheck"]["test"], name
    assert "/healthz" in " ".join(services["covenant"]["healthcheck"]["test"])


def test_the_bucket_is_made_with_the_files_it_mounts(compose: dict[str, Any]) -> None:
    init = compose["services"]["minio-init"]
    assert init["image"].startswith("minio/mc:")
    script = "\n".join(init["command"])
    for mount in init["volumes"]:
        source, target = str(mount).split(":")[:2]
        for used in re.findall(re.escape(target) + r"/([\w.-]+)", script):
            assert (REPO / source / used).is_file(), f"{used} is not in {source}"
    bucket = urlparse(_environment(compose["services"]["covenant"])["COVENANT_BLOBS"]).netloc
    assert f"--with-versioning local/{bucket}" in script
