"""The .avsc files are generated from the models and compatible with the release."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from covenant.events.avro import avro_schema
from covenant.events.catalog import MESSAGE_TYPES
from covenant.events.contract import check, schema_root


def test_committed_schemas_are_fresh_and_compatible_with_the_release() -> None:
    assert check(schema_root()) == []


def test_every_model_field_is_in_its_schema_under_its_wire_name() -> None:
    for model in MESSAGE_TYPES:
        schema = avro_schema(model)
        names = [f["name"] for f in schema["fields"]]
        assert names == [info.alias for info in model.model_fields.values()], model
        assert names[0] == "meta"
        assert schema["name"].endswith(f".{model.__name__}")


def test_a_stale_file_is_reported(tmp_path: Path) -> None:
    root = tmp_path / "avro"
    shutil.copytree(schema_root(), root)
    victim = next((root / "current").glob("*.avsc"))
    victim.write_text(victim.read_text().replace('"name": "meta"', '"name": "metadata"'))
    problems = check(root)
    assert [p.schema for p in problems if "stale" in p.problem] == [victim.name]


def test_a_breaking_change_against_the_release_is_reported(tmp_path: Path) -> None:
    root = tmp_path / "avro"
    shutil.copytree(schema_root(), root)
    # Pretend the release had a required field the current schema dropped the default of:
    # a released reader expects `license` to be a long, which no rule reads from a string.
    released = root / "released" / "covenant.cmd.RegisterDataset.avsc"
    schema = json.loads(released.read_text())
    for field in schema["fields"]:
        if field["name"] == "license":
            field["type"] = "long"
    released.write_text(json.dumps(schema))
    problems = check(root)
    assert problems, "an incompatible type change must fail the check"
    assert all(p.schema == "covenant.cmd.RegisterDataset" for p in problems)
    assert any("license" in p.problem for p in problems)
