"""The bus subpackages keep the import paths callers had before the split."""

from __future__ import annotations

from pathlib import Path

import covenant.bus.kafka as kafka
import covenant.bus.sqlite as sqlite
from covenant.bus import open_bus


def test_each_subpackage_exports_its_public_names_sorted() -> None:
    assert sqlite.__all__ == ["LEASE_MS", "SqliteBus", "SqliteGroupConsumer"]
    assert kafka.__all__ == ["KafkaBus", "KafkaGroupConsumer"]
    for package in (sqlite, kafka):
        for name in package.__all__:
            assert getattr(package, name) is not None
    assert sqlite.SqliteBus.__module__ == "covenant.bus.sqlite._bus"


def test_open_bus_builds_the_exported_classes(tmp_path: Path) -> None:
    assert isinstance(open_bus(f"sqlite:///{tmp_path / 'log.sqlite3'}"), sqlite.SqliteBus)
    bus = open_bus("kafka://127.0.0.1:9092?namespace=t.")
    assert isinstance(bus, kafka.KafkaBus)
    assert bus.namespace == "t."
