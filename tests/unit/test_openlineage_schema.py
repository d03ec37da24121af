"""The OpenLineage validation helper itself: it accepts what the official client writes
and refuses each kind of invalid event, formats included."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.serde import Serde

from openlineage_schema import SCHEMA_DIR, assert_valid_openlineage, openlineage_errors

FACET_URL = (
    "https://openlineage.io/spec/facets/1-0-1/SourceCodeLocationJobFacet.json"
    "#/$defs/SourceCodeLocationJobFacet"
)


def _valid_event() -> dict[str, Any]:
    """A run event as written by openlineage-python, the official client, plus one facet."""
    event = RunEvent(
        eventType=RunState.COMPLETE,
        eventTime="2026-11-01T12:00:00.123456+00:00",
        run=Run(runId="0190b2c4-7a11-7cc2-9a3e-2f4b8b1c0d11"),
        job=Job(namespace="covenant", name="train:vit"),
        producer="https://github.com/covenant-ml/covenant/tree/v0.1.0",
        inputs=[InputDataset(namespace="s3://raw", name="imagenet-mini/2026-11-01")],
        outputs=[OutputDataset(namespace="covenant", name="model:vit:1.0.0")],
    )
    document: dict[str, Any] = json.loads(json.dumps(Serde.to_dict(event)))
    document["job"]["facets"]["sourceCodeLocation"] = {
        "_producer": "https://github.com/covenant-ml/covenant/tree/v0.1.0",
        "_schemaURL": FACET_URL,
        "type": "git",
        "url": "ssh://git@example.com/ml/vit.git",
        "repoUrl": "git@example.com:ml/vit.git",
        "version": "9d1e2b7",
    }
    return document


def _with(path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    event = copy.deepcopy(_valid_event())
    node: Any = event
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return event


def test_accepts_what_the_official_client_writes() -> None:
    assert openlineage_errors(_valid_event()) == []
    assert_valid_openlineage(_valid_event())


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("producer",), "not a uri", "event/producer: 'not a uri' is not a 'uri'"),
        (
            ("eventTime",),
            "2026-11-01 12:00",
            "event/eventTime: '2026-11-01 12:00' is not a 'date-time'",
        ),
        (("eventTime",), "2026-11-01T12:00:00", "is not a 'date-time'"),  # no offset
        (("run", "runId"), "run-1", "event/run/runId: 'run-1' is not a 'uuid'"),
        (("eventType",), "DONE", "event/eventType: 'DONE' is not one of"),
        (("job", "facets", "sourceCodeLocation", "_producer"), "x y", "is not a 'uri'"),
    ],
    ids=["uri", "date-time", "date-time-offset", "uuid", "enum", "facet-base-uri"],
)
def test_formats_and_values_are_asserted(
    path: tuple[str | int, ...], value: Any, expected: str
) -> None:
    errors = openlineage_errors(_with(path, value))
    assert any(expected in error for error in errors), errors
    with pytest.raises(AssertionError, match="invalid OpenLineage event"):
        assert_valid_openlineage(_with(path, value))


def test_the_reported_source_code_location_defects_are_caught() -> None:
    """What the generator used to write for ``git@example.com:ml/vit.git`` with no commit."""
    facet = ("job", "facets", "sourceCodeLocation")
    event = _with((*facet, "url"), "git@example.com:ml/vit.git")
    event["job"]["facets"]["sourceCodeLocation"]["version"] = None
    errors = openlineage_errors(event)
    prefix = "job/facets/sourceCodeLocation"
    assert f"{prefix}/url: 'git@example.com:ml/vit.git' is not a 'uri'" in errors
    assert f"{prefix}/version: None is not of type 'string'" in errors
    missing_url = _valid_event()
    del missing_url["job"]["facets"]["sourceCodeLocation"]["url"]
    assert any("'url' is a required property" in e for e in openlineage_errors(missing_url))


def test_an_official_facet_must_sit_under_its_own_key() -> None:
    event = _valid_event()
    event["job"]["facets"]["sourceCode"] = event["job"]["facets"].pop("sourceCodeLocation")
    (error,) = openlineage_errors(event)
    assert error.startswith("job/facets/sourceCode: a facet of")
    assert "['sourceCodeLocation']" in error


def test_an_official_schema_that_is_not_vendored_is_an_error() -> None:
    event = _valid_event()
    older = FACET_URL.replace("1-0-1", "1-0-0")
    event["job"]["facets"]["sourceCodeLocation"]["_schemaURL"] = older
    (error,) = openlineage_errors(event)
    assert error == (
        f"job/facets/sourceCodeLocation: names schema {older}, which is not vendored in "
        f"{SCHEMA_DIR}"
    )
    no_schema = _valid_event()
    del no_schema["schemaURL"]
    assert openlineage_errors(no_schema) == [
        "schemaURL: missing, so there is no schema to check the event against"
    ]


def test_custom_facets_need_the_base_facet_fields() -> None:
    event = _valid_event()
    event["run"]["facets"]["covenant"] = {"_producer": "https://example.com/p", "x": 1}
    errors = openlineage_errors(event)
    assert any("'_schemaURL' is a required property" in e for e in errors), errors
    event["run"]["facets"]["covenant"]["_schemaURL"] = "https://example.com/facet.json"
    assert openlineage_errors(event) == []
