"""Shared fixtures: a real Kafka broker for the session, and a fresh log per test.

The broker is Apache Kafka from Maven Central run on the machine's Java (no Docker
engine needed); set COVENANT_TEST_KAFKA=host:port to use a running one instead.
Every test gets its own namespace on it, so tests never see each other's records.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from covenant.bus import Bus, open_bus
from covenant.testing.kafka import LocalKafka
from covenant.testing.postgres import LocalPostgres
from covenant.testing.signing_proxy import LocalSigningProxy
from covenant.testing.softhsm import SoftHsm, start_softhsm
from covenant.testing.tls import TestPki, write_test_pki
from kube_cluster import kube_cluster, kube_serving  # noqa: F401  (the session's kube-apiserver)
from ray_cluster import ray_cluster  # noqa: F401  (the session's local Ray cluster)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def kafka_libs() -> Path:
    """The Kafka jars, fetched from Maven Central into a cache on first use; for
    tests that start brokers of their own (the outage tests)."""
    libs = subprocess.run(
        ["bash", str(ROOT / "deploy/kafka/fetch.sh")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return Path(libs)


@pytest.fixture(scope="session")
def kafka_bootstrap(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    existing = os.environ.get("COVENANT_TEST_KAFKA")
    if existing:
        yield existing
        return
    libs: Path = request.getfixturevalue("kafka_libs")
    with LocalKafka(libs, tmp_path_factory.mktemp("kafka")) as broker:
        yield broker.bootstrap


@pytest.fixture(scope="session")
def local_postgres() -> Iterator[LocalPostgres]:
    """One throwaway PostgreSQL server for the session; tests make their own databases."""
    with LocalPostgres() as server:
        yield server


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> SoftHsm:
    """One SoftHSM2 token for the session (the module is loaded once per process);
    tests make their own keys on it under fresh labels. Fails, never skips, without
    SoftHSM2 installed."""
    return start_softhsm(tmp_path_factory.mktemp("softhsm"))


@pytest.fixture(scope="session")
def signing_pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    """A throwaway CA, the proxy's server certificate and one client's."""
    return write_test_pki(tmp_path_factory.mktemp("pki"), clients=("covenant-audit",))


@pytest.fixture(scope="session")
def signing_proxy(
    softhsm: SoftHsm, signing_pki: TestPki, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalSigningProxy]:
    """``covenant signer serve`` over the session's SoftHSM2 token, in its own process."""
    with LocalSigningProxy(softhsm, signing_pki, workdir=tmp_path_factory.mktemp("proxy")) as proxy:
        yield proxy


@pytest.fixture(params=["sqlite", pytest.param("kafka", marks=pytest.mark.kafka)])
def bus_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty log of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'log.sqlite3'}"
    bootstrap = request.getfixturevalue("kafka_bootstrap")
    return f"kafka://{bootstrap}?namespace=t{uuid.uuid4().hex[:12]}."


@pytest.fixture
async def bus(bus_url: str) -> AsyncIterator[Bus]:
    async with open_bus(bus_url) as log:
        yield log
