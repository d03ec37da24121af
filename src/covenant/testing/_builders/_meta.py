"""What every builder shares: the metadata keywords and the one call to ``create``.

Each builder takes its message's own fields as named keywords and the metadata as
``**meta: Unpack[Meta]``, so the signatures stay short and still typed, and a
misspelt keyword fails (under mypy and, because tests often are not type-checked,
at run time too) instead of being ignored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, Final, TypedDict, TypeVar

from covenant.events.base import SYSTEM_CLOCK, UUID7_IDS, Clock, IdSource, Message
from covenant.events.refusals import Refusal, RefusalCode

M = TypeVar("M", bound=Message)

ACTOR: Final = "alice@example.com"
"""``meta.actor`` of what a builder makes unless told otherwise (or caused by another)."""

PLATFORM_ACTOR: Final = "covenant"
"""The actor Covenant itself writes dead letters and audit records as."""


class Meta(TypedDict, total=False):
    """The metadata keywords every builder takes; each is optional.

    Attributes:
        subject: the entity, also the partition key; each builder defaults it to
            what Covenant's own producers use for that type (``dataset:<id>``,
            ``model:<family>:<version>``, the artifact's ``sha256:`` address, ...).
        actor: who it is written for; ``caused_by``'s actor, else ``ACTOR``.
        producer: who writes it; the Covenant component that writes that type.
        correlation_id: the flow; ``caused_by``'s, else a new flow.
        causation_id: the cause's event id; ``caused_by``'s, else none.
        idempotency_key: the caller's retry key; ``caused_by``'s, else none.
        caused_by: a record this one answers, as a worker's ``Context.emit`` would.
        clock: where ``occurred_at`` (and the builder's other "now"s) come from.
        ids: where ``event_id`` comes from.
    """

    subject: str
    actor: str
    producer: str
    correlation_id: str | None
    causation_id: str | None
    idempotency_key: str | None
    caused_by: Message
    clock: Clock
    ids: IdSource


_META_KEYS: Final = frozenset(Meta.__optional_keys__ | Meta.__required_keys__)


def sha(content: str | bytes) -> str:
    """The content address Covenant gives bytes: ``sha256:<64 lowercase hex>``.

    Text is hashed as UTF-8, so ``sha("d1")`` is the id of an artifact whose bytes
    are ``b"d1"``; that is how the builders' defaults line up with each other.
    """
    data = content.encode() if isinstance(content, str) else content
    return "sha256:" + hashlib.sha256(data).hexdigest()


def clock_of(meta: Meta) -> Clock:
    """The clock a builder stamps its times with."""
    return meta.get("clock", SYSTEM_CLOCK)


def actor_of(meta: Meta, default: str = ACTOR) -> str:
    """The actor: given, else the cause's, else ``default``."""
    if "actor" in meta:
        return meta["actor"]
    cause = meta.get("caused_by")
    return default if cause is None else cause.meta.actor


def strings(name: str, values: Sequence[str]) -> list[str]:
    """``values`` as a list; a bare string is refused, since ``datasets="d1"`` would
    otherwise quietly become ``["d", "1"]``."""
    if isinstance(values, str):
        raise TypeError(f"{name} takes a list of strings, got the string {values!r}")
    return list(values)


def refused(
    *,
    reasons: Sequence[str] | None,
    refusals: Sequence[Refusal] | None,
    code: RefusalCode,
    default: str,
) -> tuple[list[str], list[Refusal]]:
    """The ``reasons`` and ``refusals`` of a rejection, kept consistent as the catalog
    writes them (``reasons`` are the refusals' messages) unless both are given."""
    if refusals is None:
        texts = [default] if reasons is None else strings("reasons", reasons)
        return texts, [Refusal(code=code, message=text) for text in texts]
    if reasons is None:
        return [r.message for r in refusals], list(refusals)
    return strings("reasons", reasons), list(refusals)


def build(
    cls: type[M],
    meta: Meta,
    *,
    subject: str,
    producer: str,
    actor: str = ACTOR,
    **body: Any,
) -> M:
    """``cls.create`` with the builder's defaults under the caller's ``meta``.

    Raises:
        TypeError: ``meta`` has a key that is not a ``Meta`` field (a misspelling).
    """
    unknown = sorted(set(meta) - _META_KEYS)
    if unknown:
        raise TypeError(
            f"unexpected keyword(s) {', '.join(unknown)} for a {cls.TYPE} builder; "
            f"metadata keywords are {', '.join(sorted(_META_KEYS))}"
        )
    correlation_id: str | None = None
    causation_id: str | None = None
    idempotency_key: str | None = None
    if "caused_by" in meta:
        cause = meta["caused_by"].meta
        correlation_id, causation_id = cause.correlation_id, cause.event_id
        idempotency_key = cause.idempotency_key
    message: M = cls.create(
        subject=meta.get("subject", subject),
        actor=actor_of(meta, actor),
        producer=meta.get("producer", producer),
        correlation_id=meta.get("correlation_id", correlation_id),
        causation_id=meta.get("causation_id", causation_id),
        idempotency_key=meta.get("idempotency_key", idempotency_key),
        clock=clock_of(meta),
        ids=meta.get("ids", UUID7_IDS),
        **body,
    )
    return message
