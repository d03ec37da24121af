"""Lineage facts become valid OpenLineage run events.

Every event produced here goes through ``assert_valid_openlineage`` (the official JSON
schemas, formats asserted), and dataset names are compared with what openlineage-python's
naming helpers produce for the same location.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openlineage.client.naming import dataset as naming

from covenant.events.base import Message, utc_now
from covenant.events.datasets import (
    DatasetLineage,
    DatasetRegistered,
    DatasetRejected,
    TrainingClearance,
    Transformation,
)
from covenant.events.registry import ModelLineage, ModelRegistered, ModelRegistryEntry, ModelStatus
from covenant.lineage.openlineage import SCHEMA_URL, run_event
from openlineage_schema import assert_valid_openlineage

SHA = "sha256:" + "1" * 64
FACET_SCHEMA_URL = (
    "https://openlineage.io/spec/facets/1-0-1/SourceCodeLocationJobFacet.json"
    "#/$defs/SourceCodeLocationJobFacet"
)


def _dataset_registered(source_refs: list[str], code_ref: str = "git@x:p.git#1") -> Message:
    return DatasetRegistered.create(
        subject="dataset:d:1",
        actor="alice",
        producer="datasets",
        lineage=DatasetLineage(
            dataset_id="d:1",
            source_refs=source_refs,
            transformations=[Transformation(name="dedupe", code_ref=code_ref, checksum=SHA)],
            checksum=SHA,
            license="MIT",
            pii_flags=["email"],
            created_at=utc_now(),
            created_by="alice",
        ),
        clearance=TrainingClearance.BLOCKED,
    )


def _model_registered(code_ref: str, dataset_refs: tuple[str, ...] = ("d:1",)) -> Message:
    entry = ModelRegistryEntry(
        model_id="vit:1.1.0",
        family="vit",
        version="1.1.0",
        code_ref=code_ref,
        artifact_id=SHA,
        metrics={"top1": 0.9},
        created_at=utc_now(),
        created_by="bob",
        status=ModelStatus.DRAFT,
        lineage=ModelLineage(dataset_refs=list(dataset_refs), parent_models=["vit:1.0.0"]),
    )
    return ModelRegistered.create(subject="m", actor="bob", producer="r", entry=entry)


def _valid_run(message: Message) -> dict[str, Any]:
    run = run_event(message)
    assert run is not None
    assert_valid_openlineage(run)
    return run


def test_dataset_registration_is_a_preparation_run() -> None:
    run = _valid_run(_dataset_registered(["s3://raw/d/2026", "orders-db"]))
    assert run["eventType"] == "COMPLETE"
    assert run["schemaURL"] == SCHEMA_URL
    assert uuid.UUID(run["run"]["runId"]).version == 7
    assert run["job"] == {"namespace": "covenant", "name": "prepare:d:1", "facets": {}}
    assert run["inputs"] == [
        {"namespace": "s3://raw", "name": "d/2026"},
        {"namespace": "covenant", "name": "orders-db"},
    ]
    (output,) = run["outputs"]
    assert output["name"] == "dataset:d:1"
    facet = output["facets"]["covenant"]
    assert facet["checksum"] == SHA
    assert facet["clearance"] == "blocked"
    assert facet["transformations"][0]["codeRef"] == "git@x:p.git#1"
    assert {"_producer", "_schemaURL"} <= set(facet)


def test_model_registration_is_a_training_run_reading_datasets_and_parents() -> None:
    run = _valid_run(_model_registered("git@example.com:ml/vit.git#9d1e2b7"))
    assert run["job"]["name"] == "train:vit"
    source = run["job"]["facets"]["sourceCodeLocation"]
    assert source == {
        "_producer": run["producer"],
        "_schemaURL": FACET_SCHEMA_URL,
        "type": "git",
        # The scp-like remote is not a URI: it stays as written in repoUrl, and url is
        # the ssh:// URL git treats it as.
        "url": "ssh://git@example.com/ml/vit.git",
        "repoUrl": "git@example.com:ml/vit.git",
        "version": "9d1e2b7",
    }
    assert [i["name"] for i in run["inputs"]] == ["dataset:d:1", "model:vit:1.0.0"]
    assert run["outputs"][0]["name"] == "model:vit:1.1.0"
    assert run["outputs"][0]["facets"]["covenant"]["artifactId"] == SHA
    assert run["outputs"][0]["facets"]["covenant"]["codeRef"] == (
        "git@example.com:ml/vit.git#9d1e2b7"
    )


def test_other_records_are_not_lineage() -> None:
    rejected = DatasetRejected.create(
        subject="d", actor="a", producer="p", dataset_id="d", reasons=["no"]
    )
    assert run_event(rejected) is None


# --- SourceCodeLocationJobFacet ---


@pytest.mark.parametrize(
    ("code_ref", "expected"),
    [
        (
            "https://github.com/covenant-ml/vit.git#" + "a" * 40,
            {
                "url": "https://github.com/covenant-ml/vit.git",
                "repoUrl": "https://github.com/covenant-ml/vit.git",
                "version": "a" * 40,
            },
        ),
        (
            "ssh://git@example.com:2222/ml/vit.git#9d1e2b7",
            {
                "url": "ssh://git@example.com:2222/ml/vit.git",
                "repoUrl": "ssh://git@example.com:2222/ml/vit.git",
                "version": "9d1e2b7",
            },
        ),
        (
            "example.com:/srv/git/vit.git#9d1e2b7",
            {
                "url": "ssh://example.com/srv/git/vit.git",
                "repoUrl": "example.com:/srv/git/vit.git",
                "version": "9d1e2b7",
            },
        ),
        (
            "/srv/git/vit.git#9d1e2b7",
            {
                "url": "file:///srv/git/vit.git",
                "repoUrl": "/srv/git/vit.git",
                "version": "9d1e2b7",
            },
        ),
        (
            "https://example.com/my repo.git",
            {
                "url": "https://example.com/my%20repo.git",
                "repoUrl": "https://example.com/my repo.git",
            },
        ),
    ],
    ids=["https", "ssh-url-with-port", "scp-absolute-path", "local-path", "needs-escaping"],
)
def test_code_refs_become_a_source_code_location(code_ref: str, expected: dict[str, str]) -> None:
    source = _valid_run(_model_registered(code_ref))["job"]["facets"]["sourceCodeLocation"]
    assert {k: v for k, v in source.items() if not k.startswith("_")} == {"type": "git", **expected}


@pytest.mark.parametrize(
    "code_ref", ["git@example.com:ml/vit.git", "git@example.com:ml/vit.git#main", "x:y#"]
)
def test_a_code_ref_without_a_commit_has_no_version(code_ref: str) -> None:
    """The schema wants a string "not a branch name": the field is left out, never null."""
    source = _valid_run(_model_registered(code_ref))["job"]["facets"]["sourceCodeLocation"]
    assert "version" not in source
    assert source["repoUrl"] == code_ref.partition("#")[0]


@pytest.mark.parametrize("code_ref", ["vit", "ml/vit.git#9d1e2b7", "", "#9d1e2b7", "http://[::1"])
def test_a_remote_that_is_no_uri_gives_no_facet(code_ref: str) -> None:
    """``url`` is required, so without a URI there is no facet; the ref stays in ours."""
    run = _valid_run(_model_registered(code_ref))
    assert run["job"]["facets"] == {}
    assert run["outputs"][0]["facets"]["covenant"]["codeRef"] == code_ref


# --- Dataset naming ---


@pytest.mark.parametrize(
    ("ref", "reference"),
    [
        ("s3://raw/imagenet-mini/2026-11-01", naming.S3("raw", "imagenet-mini/2026-11-01")),
        ("s3a://raw/imagenet-mini/", naming.S3("raw", "imagenet-mini")),
        ("s3n://raw/a/b.parquet", naming.S3("raw", "a/b.parquet")),
        ("s3://raw/with%20space.csv", naming.S3("raw", "with space.csv")),
        ("gs://bucket/x/y.parquet", naming.GCS("bucket", "x/y.parquet")),
        ("abfss://c@acct.dfs.core.windows.net/p/q", naming.ABFSS("c", "acct", "p/q")),
        ("abfs://c@acct.dfs.core.windows.net/p", naming.ABFSS("c", "acct", "p")),
        ("wasbs://c@acct.dfs.core.windows.net/k", naming.WASBS("c", "acct", "k")),
        ("hdfs://namenode:8020/data/x", naming.HDFS("namenode", "8020", "/data/x")),
        ("dbfs://workspace/mnt/x/", naming.DBFS("workspace", "/mnt/x")),
        ("file:///data/x.csv", naming.LocalFileSystem("/data/x.csv")),
        ("file://localhost/data/x.csv", naming.LocalFileSystem("/data/x.csv")),
        ("/data/x.csv", naming.LocalFileSystem("/data/x.csv")),
        ("file://nas/share/x.csv", naming.RemoteFileSystem("nas", "/share/x.csv")),
    ],
    ids=lambda v: v if isinstance(v, str) else type(v).__name__,
)
def test_locations_are_named_as_openlineage_python_names_them(ref: str, reference: Any) -> None:
    run = _valid_run(_dataset_registered([ref]))
    assert run["inputs"] == [{"namespace": reference.get_namespace(), "name": reference.get_name()}]


@pytest.mark.parametrize(
    ("ref", "namespace", "name"),
    [
        ("s3://raw", "s3://raw", "/"),  # a whole bucket, as the reference client names it
        ("s3://raw/", "s3://raw", "/"),
        ("file:///", "file", "/"),
        ("orders-db", "covenant", "orders-db"),  # a bare name: ours
        ("data/x.csv", "covenant", "data/x.csv"),  # a relative path names no location
        ("bigquery:proj.ds.t", "covenant", "bigquery:proj.ds.t"),  # opaque: no authority
        ("http://[::1", "covenant", "http://[::1"),  # not a URI at all
    ],
)
def test_what_the_helpers_do_not_cover(ref: str, namespace: str, name: str) -> None:
    run = _valid_run(_dataset_registered([ref]))
    assert run["inputs"] == [{"namespace": namespace, "name": name}]


# --- The envelope ---


def test_event_time_and_run_id_stay_valid_for_odd_metadata() -> None:
    """A record from another producer may carry a naive time or a non-UUID id."""
    message = _model_registered("git@example.com:ml/vit.git#9d1e2b7")
    odd = message.model_copy(
        update={
            "meta": message.meta.model_copy(
                update={"event_id": "evt-42", "occurred_at": datetime(2026, 11, 1, 12, 0)}
            )
        }
    )
    run = _valid_run(odd)
    assert run["eventTime"] == "2026-11-01T12:00:00+00:00"
    assert uuid.UUID(run["run"]["runId"]) == uuid.uuid5(
        uuid.NAMESPACE_URL, "urn:covenant:event:evt-42"
    )
    assert _valid_run(odd)["run"]["runId"] == run["run"]["runId"]  # stable across exports


_REMOTES = st.one_of(
    st.text(max_size=40),
    st.builds(
        lambda user, host, path: f"{user}@{host}:{path}",
        st.text(max_size=8),
        st.text(min_size=1, max_size=12),
        st.text(max_size=20),
    ),
    st.builds(
        lambda scheme, rest: f"{scheme}://{rest}",
        st.sampled_from(["https", "ssh", "git", "file", "HTTP", "x+y", "1bad"]),
        st.text(max_size=30),
    ),
)
_CODE_REFS = st.builds(
    lambda remote, commit: remote if commit is None else f"{remote}#{commit}",
    _REMOTES,
    st.none() | st.text(max_size=12) | st.text("0123456789abcdef", min_size=7, max_size=40),
)
_SOURCE_REFS = st.one_of(
    st.text(max_size=30),
    st.builds(
        lambda scheme, rest: f"{scheme}://{rest}",
        st.sampled_from(["s3", "s3a", "gs", "abfss", "wasb", "hdfs", "file", "kafka", "Z"]),
        st.text(max_size=30),
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(code_ref=_CODE_REFS, source_refs=st.lists(_SOURCE_REFS, max_size=4))
def test_any_registration_gives_a_valid_event(code_ref: str, source_refs: list[str]) -> None:
    """Whatever registrants type as refs, the output stays valid OpenLineage."""
    dataset_run = _valid_run(_dataset_registered(source_refs, code_ref))
    assert len(dataset_run["inputs"]) == len(source_refs)
    model_run = _valid_run(_model_registered(code_ref, tuple(source_refs)))
    facets = model_run["job"]["facets"]
    if facets:
        assert facets["sourceCodeLocation"]["repoUrl"] == code_ref.partition("#")[0]
