"""Builders for the platform's own records: dead letters and the audit trail's.

Their actor is ``covenant`` (what the runtime and the audit worker write) unless
told otherwise.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Unpack

from covenant.events.audit import AUDIT_SUBJECT, CheckpointSigned, Leaf, LeavesAppended
from covenant.events.base import Message
from covenant.events.codec import Codec
from covenant.events.contract import default_codec
from covenant.events.deadletter import DeadLettered
from covenant.testing._builders._meta import PLATFORM_ACTOR, Meta, build, clock_of
from covenant.topics import MODEL_COMMANDS

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""RFC 9162's root of the empty tree, the default ``root_hash`` of a checkpoint."""

KEY_ID = "ed25519:0000000000000000"


def dead_lettered(
    original: Message | bytes = b"",
    *,
    worker: str = "registry",
    source_topic: str | None = None,
    source_partition: int = 0,
    source_offset: int = 0,
    error_class: str = "HandlerError",
    error: str = "the handler failed",
    attempts: int = 1,
    original_key: bytes | None = None,
    codec: Codec | None = None,
    **meta: Unpack[Meta],
) -> DeadLettered:
    """A ``record.dead_lettered`` event, as the worker runtime writes it.

    ``original`` is the record given up on: bytes as read, or a message, which is
    encoded (with ``codec``, else the default codec) and then also supplies the
    default ``source_topic`` (its topic) and ``original_key`` (its subject). The
    subject is the position, ``<topic>/<partition>/<offset>``, as the runtime's.
    """
    key = original_key
    if isinstance(original, Message):
        value = (codec or default_codec()).encode(original)
        topic = source_topic if source_topic is not None else original.TOPIC.name
        key = key if key is not None else original.meta.subject.encode()
    else:
        value = original
        topic = source_topic if source_topic is not None else MODEL_COMMANDS.name
    return build(
        DeadLettered,
        meta,
        subject=f"{topic}/{source_partition}/{source_offset}",
        producer=worker,
        actor=PLATFORM_ACTOR,
        worker=worker,
        source_topic=topic,
        source_partition=source_partition,
        source_offset=source_offset,
        error_class=error_class,
        error=error,
        attempts=attempts,
        original=value,
        original_key=key,
    )


def leaf(
    topic: str = MODEL_COMMANDS.name,
    partition: int = 0,
    offset: int = 0,
    *,
    value: bytes = b"",
    digest: bytes | None = None,
    event_id: str | None = None,
) -> Leaf:
    """One audited position; ``digest`` defaults to the SHA-256 of ``value``, the
    record's exact bytes, as the audit worker computes it."""
    return Leaf(
        topic=topic,
        partition=partition,
        offset=offset,
        digest=digest if digest is not None else hashlib.sha256(value).digest(),
        event_id=event_id,
    )


def leaves_appended(
    leaves: Sequence[Leaf] | None = None, *, first_leaf: int = 0, **meta: Unpack[Meta]
) -> LeavesAppended:
    """An ``audit.leaves_appended`` batch: ``leaves`` (one default ``leaf()`` unless
    given) as tree leaves ``first_leaf`` onwards."""
    return build(
        LeavesAppended,
        meta,
        subject=AUDIT_SUBJECT,
        producer="audit",
        actor=PLATFORM_ACTOR,
        first_leaf=first_leaf,
        leaves=[leaf()] if leaves is None else list(leaves),
    )


def checkpoint_signed(
    *,
    tree_size: int = 0,
    root_hash: bytes = EMPTY_ROOT,
    signed_at: datetime | None = None,
    key_id: str = KEY_ID,
    algorithm: str = "ed25519",
    signature: bytes = bytes(64),
    **meta: Unpack[Meta],
) -> CheckpointSigned:
    """An ``audit.checkpoint_signed`` record of the empty tree unless told otherwise.

    The default ``signature`` is 64 zero bytes, which verifies under no key: a test
    that needs a valid one signs ``covenant.events.audit.checkpoint_message(...)``
    with a ``Signer`` and passes the result with the same ``signed_at`` and
    ``key_id``. ``signed_at`` defaults to the clock's now.
    """
    return build(
        CheckpointSigned,
        meta,
        subject=AUDIT_SUBJECT,
        producer="audit",
        actor=PLATFORM_ACTOR,
        tree_size=tree_size,
        root_hash=root_hash,
        signed_at=signed_at if signed_at is not None else clock_of(meta).now(),
        key_id=key_id,
        algorithm=algorithm,
        signature=signature,
    )
