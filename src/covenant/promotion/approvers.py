"""The approvers file: who may approve a high-risk promotion, with their public keys.

A TOML file (``COVENANT_APPROVERS``; ``deploy/approvers.toml`` shows the form)::

    group = "model-risk"      # named in pending promotions and refusals
    required = 2              # distinct approvals a high-risk promotion needs

    [[approver]]
    id = "alice"
    public_key = '''
    -----BEGIN PUBLIC KEY-----
    ...
    -----END PUBLIC KEY-----
    '''

Only public keys are here: each approver keeps their private key and signs on their
own machine (``covenant promotions approve --key``). The file is read once, at
start-up, so a broken file stops the worker with the file's error instead of
refusing approvals later.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from covenant.errors import ConfigError
from covenant.promotion.approvals import Approver, ApproverGroup
from covenant.signing import SignatureError, key_id_for

__all__ = ["NO_APPROVERS", "load_approvers"]

NO_APPROVERS = ApproverGroup(name="none", required=0, members=())
"""No approvers configured: a high-risk promotion is then blocked, never waved on."""

_KEYS = {"group", "required", "approver"}


def load_approvers(path: Path | None) -> ApproverGroup:
    """The group in ``path``, or :data:`NO_APPROVERS` when no file is configured.

    Raises:
        ConfigError: the file cannot be read, is not TOML, has unknown keys, a key
            that is not an Ed25519 public key, a repeated approver or key, or asks for
            more approvals than it has approvers.
    """
    if path is None:
        return NO_APPROVERS
    where = str(path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read approvers file {where}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"approvers file {where} is not valid TOML: {exc}") from None
    unknown = sorted(set(document) - _KEYS)
    if unknown:
        raise ConfigError(f"approvers file {where}: unknown keys {', '.join(unknown)}")
    group, required = document.get("group"), document.get("required")
    if not isinstance(group, str) or not group:
        raise ConfigError(f"approvers file {where}: `group` must be a non-empty string")
    if not isinstance(required, int) or isinstance(required, bool) or required < 1:
        raise ConfigError(f"approvers file {where}: `required` must be a whole number ≥ 1")
    members = _members(document.get("approver", []), where)
    if required > len(members):
        raise ConfigError(
            f"approvers file {where}: `required` is {required} but only {len(members)} "
            "approvers are listed"
        )
    return ApproverGroup(name=group, required=required, members=members)


def _members(entries: object, where: str) -> tuple[Approver, ...]:
    if not isinstance(entries, list):
        raise ConfigError(f"approvers file {where}: `approver` must be an array of tables")
    members: list[Approver] = []
    ids: set[str] = set()
    keys: set[str] = set()
    for number, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or set(entry) != {"id", "public_key"}:
            raise ConfigError(
                f"approvers file {where}: approver #{number} must have exactly `id` and "
                "`public_key`"
            )
        approver_id, pem = entry["id"], entry["public_key"]
        if not isinstance(approver_id, str) or not approver_id or not isinstance(pem, str):
            raise ConfigError(f"approvers file {where}: approver #{number} is malformed")
        try:
            key_id = key_id_for(pem.strip().encode() + b"\n")
        except SignatureError as exc:
            raise ConfigError(f"approvers file {where}: approver {approver_id}: {exc}") from None
        if approver_id in ids or key_id in keys:
            raise ConfigError(
                f"approvers file {where}: approver {approver_id} or key {key_id} is listed "
                "twice; each approver is one person with one key"
            )
        ids.add(approver_id)
        keys.add(key_id)
        members.append(Approver(id=approver_id, public_key_pem=pem.strip().encode() + b"\n"))
    return tuple(members)
