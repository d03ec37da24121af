"""Validate OpenLineage events against the official JSON schemas, offline.

Any test that produces OpenLineage output calls :func:`assert_valid_openlineage` on every
event. The schemas are the official ones, vendored in ``tests/data/openlineage/`` (see
its README), and every ``$ref`` between them is resolved from that folder by
``referencing``, never fetched.

What "valid" means here, beyond ``jsonschema`` accepting the document:

* the event is checked against the schema its own ``schemaURL`` names, and every facet
  against the schema its ``_schemaURL`` names when that is an official one
  (``openlineage.io``): an official URL that is not vendored is an error, so a new facet
  cannot slip in unchecked;
* an official facet sits under the key its schema defines (``sourceCodeLocation`` for a
  ``SourceCodeLocationJobFacet``), because consumers look facets up by key;
* the ``format`` keywords the schemas use (``uri``, ``date-time``, ``uuid``) are asserted,
  not just annotated: Draft 2020-12 only annotates them by default, and ``jsonschema``
  silently skips a format whose checker library is missing, so the checker is built
  from exactly the formats the schemas use and refuses to exist without one of them.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urlparse

from jsonschema import Draft202012Validator, FormatChecker, ValidationError
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable

SCHEMA_DIR = Path(__file__).parent / "data" / "openlineage"
"""Where the vendored official schemas live."""

OFFICIAL_HOST = "openlineage.io"

# The keys under which a run, a job or a dataset holds facets.
_FACET_HOLDERS = ("facets", "inputFacets", "outputFacets")


@dataclass(frozen=True)
class _Schemas:
    """The vendored schemas, loaded once: a registry of them and the format checker."""

    registry: Registry[Any]
    documents: Mapping[str, Mapping[str, Any]]
    format_checker: FormatChecker


def _formats_used(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        value = node.get("format")
        if isinstance(value, str):
            yield value
        for child in node.values():
            yield from _formats_used(child)
    elif isinstance(node, list):
        for child in node:
            yield from _formats_used(child)


@functools.cache
def _schemas() -> _Schemas:
    """Load and check the vendored schemas; cached because they never change in a run."""
    documents: dict[str, Mapping[str, Any]] = {}
    for path in sorted(SCHEMA_DIR.rglob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        Draft202012Validator.check_schema(document)
        documents[document["$id"]] = document
    if not documents:
        raise RuntimeError(f"no OpenLineage schemas under {SCHEMA_DIR}")
    registry: Registry[Any] = Registry().with_resources(
        (uri, Resource.from_contents(document)) for uri, document in documents.items()
    )
    formats = {f for document in documents.values() for f in _formats_used(document)}
    missing = formats - set(FormatChecker.checkers)
    if missing:
        raise RuntimeError(
            f"jsonschema cannot check the formats {sorted(missing)} that the OpenLineage "
            "schemas use; install the dev dependencies (rfc3986-validator for uri, "
            "rfc3339-validator for date-time)"
        )
    return _Schemas(registry, documents, FormatChecker(formats=sorted(formats)))


def _validate(instance: Any, schema_url: str, where: str) -> list[str]:
    """Validate ``instance`` against the vendored schema at ``schema_url``."""
    schemas = _schemas()
    try:
        schemas.registry.resolver().lookup(schema_url)
    except Unresolvable:
        return [f"{where}: names schema {schema_url}, which is not vendored in {SCHEMA_DIR}"]
    validator = Draft202012Validator(
        {"$ref": schema_url}, registry=schemas.registry, format_checker=schemas.format_checker
    )
    return [
        f"{where}{''.join(f'/{p}' for p in error.absolute_path)}: {error.message}"
        for top in sorted(validator.iter_errors(instance), key=lambda e: list(e.path))
        for error in _leaves(top)
    ]


def _leaves(error: ValidationError) -> Iterator[ValidationError]:
    """The errors that say what is wrong, not that an ``anyOf`` wrapper was unmet.

    The spec wraps every facets object in an ``anyOf`` of one schema, so the top-level
    error alone would only say that no branch matched.
    """
    if not error.context:
        yield error
        return
    for child in error.context:
        yield from _leaves(child)


def _facets(event: Mapping[str, Any]) -> Iterator[tuple[str, str, Any]]:
    """Every facet in a run event as (where, key, facet)."""
    holders: list[tuple[str, Any]] = [("run", event.get("run")), ("job", event.get("job"))]
    for side in ("inputs", "outputs"):
        datasets = event.get(side)
        if isinstance(datasets, list):
            holders += [(f"{side}/{i}", dataset) for i, dataset in enumerate(datasets)]
    for where, holder in holders:
        if not isinstance(holder, dict):
            continue
        for name in _FACET_HOLDERS:
            facets = holder.get(name)
            if isinstance(facets, dict):
                for key, facet in facets.items():
                    yield f"{where}/{name}/{key}", key, facet


def openlineage_errors(event: Mapping[str, Any]) -> list[str]:
    """Every way ``event`` breaks the official OpenLineage schemas; empty when valid.

    Args:
        event: One OpenLineage event as JSON-ready data (what ``json.loads`` gives).

    Returns:
        One message per problem, each starting with the JSON path it concerns.
    """
    schema_url = event.get("schemaURL")
    if not isinstance(schema_url, str):
        return ["schemaURL: missing, so there is no schema to check the event against"]
    documents = _schemas().documents
    errors = _validate(event, schema_url, "event")
    for where, key, facet in _facets(event):
        facet_url = facet.get("_schemaURL") if isinstance(facet, dict) else None
        if not isinstance(facet_url, str) or urlparse(facet_url).netloc != OFFICIAL_HOST:
            continue  # a custom facet: the core schema has checked its base fields
        errors += _validate(facet, facet_url, where)
        document_url, _ = urldefrag(facet_url)
        document = documents.get(document_url)
        if document is not None and key not in document.get("properties", {}):
            expected = sorted(document.get("properties", {}))
            errors.append(f"{where}: a facet of {document_url} belongs under the key {expected}")
    return errors


def assert_valid_openlineage(event: Mapping[str, Any]) -> None:
    """Fail the test, listing every problem, unless ``event`` is valid OpenLineage."""
    errors = openlineage_errors(event)
    assert not errors, "invalid OpenLineage event:\n  " + "\n  ".join(errors)
