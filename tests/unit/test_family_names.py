"""The model family name rule, one for the registry and the training worker."""

from __future__ import annotations

import pytest

from covenant.catalog.names import is_family_name


@pytest.mark.parametrize("name", ["vit", "digits", "a", "x9.v2_b-c", "0" + "a" * 99])
def test_valid_family_names(name: str) -> None:
    assert is_family_name(name)


@pytest.mark.parametrize(
    "name", ["", "Vit", "-vit", ".vit", "vit\n", "vit ", "a/b", "a" * 101, "é"]
)
def test_invalid_family_names(name: str) -> None:
    assert not is_family_name(name)
