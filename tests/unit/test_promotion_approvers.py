"""The approvers file: the shipped example loads, and each mistake is refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from covenant.errors import ConfigError
from covenant.promotion import NO_APPROVERS, load_approvers
from covenant.signing import LocalKeySigner

DEPLOY = Path(__file__).parents[2] / "deploy" / "approvers.toml"


def test_the_shipped_example_loads() -> None:
    group = load_approvers(DEPLOY)
    assert (group.name, group.required, group.ids) == ("model-risk", 2, ["ann", "bob", "cy"])
    assert len({m.key_id for m in group.members}) == 3


def test_no_file_means_nobody_may_approve() -> None:
    assert load_approvers(None) is NO_APPROVERS
    assert NO_APPROVERS.required == 0


def _file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "approvers.toml"
    path.write_text(body)
    return path


def _approver(name: str, pem: str) -> str:
    return f"[[approver]]\nid = \"{name}\"\npublic_key = '''\n{pem}'''\n"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('group = "g"\nrequired = 1\nextra = 1\n', "unknown keys extra"),
        ("required = 1\n", "`group` must be a non-empty string"),
        ('group = "g"\nrequired = 0\n', "`required` must be a whole number"),
        ('group = "g"\nrequired = 3\n{a}', "only 1 approvers are listed"),
        ('group = "g"\nrequired = 1\n{a}{a}', "listed twice"),
        ('group = "g"\nrequired = 1\n[[approver]]\nid = "x"\npublic_key = "no"\n', "x"),
        ("group = [\n", "not valid TOML"),
    ],
)
def test_mistakes_are_refused_by_name(tmp_path: Path, body: str, message: str) -> None:
    pem = LocalKeySigner.generate(tmp_path / "a.pem").public_key_pem().decode()
    path = _file(tmp_path, body.replace("{a}", _approver("ann", pem)))
    with pytest.raises(ConfigError, match=message) as excinfo:
        load_approvers(path)
    assert str(path) in str(excinfo.value)
