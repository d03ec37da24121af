"""The audit worker: folds every record on the log into the signed Merkle tree.

Not a ``runtime.Worker``: its decision depends on the whole batch (one ``LeavesAppended``
per batch, a checkpoint every so often), not on one record at a time. It keeps the same
guarantee through the same ``Bus`` API: the batch's audit records and the consumed
offsets go through one ``consumer.commit``, so the tree (which lives only on the audit
topic) and the group's position move together. A crash at any instant leaves either
both or neither; a failed commit makes the worker rebuild the tree from the audit topic
and rewind, so its memory never runs ahead of the log.

The order in which the worker commits leaves is the log's one total order; it is
published (``LeavesAppended``) because Kafka itself only orders within a partition.

Run it as its own process with ``python -m covenant.audit.worker --bus URL``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from covenant.audit.records import AuditError, audited_topics, decode_audit
from covenant.audit.state import CheckpointPolicy, TreeState, audit_batch
from covenant.bus import Bus, open_bus
from covenant.bus.protocol import TopicPartition
from covenant.errors import BusError, ConfigError, CovenantError, FencedError
from covenant.events.codec import Codec
from covenant.events.contract import default_codec
from covenant.runtime.service import install_stop_signals
from covenant.settings import Settings
from covenant.signing import LocalKeySigner, Signer
from covenant.topics import ALL_TOPICS, AUDIT

__all__ = [
    "GROUP",
    "AuditOptions",
    "audit_key_path",
    "audit_signer",
    "load_state",
    "main",
    "run_audit_worker",
]

log = logging.getLogger(__name__)

GROUP = "audit"
"""Consumer group (and ``meta.producer``) of the audit worker."""

MAX_BATCH = 5000
"""Largest batch: a ``LeavesAppended`` of 5,000 leaves is ~0.5 MB, under Kafka's 1 MB
default message limit with room to spare."""


@dataclass(frozen=True)
class AuditOptions:
    """Tuning knobs of the audit worker.

    Attributes:
        checkpoint_every: sign a checkpoint once this many leaves are unsigned.
        checkpoint_interval_s: sign once the oldest unsigned leaf waited this long.
        batch_size: records per poll, so leaves per ``LeavesAppended`` (at most 5,000).
        poll_timeout_s: how long one poll waits; the interval is checked after each.
        instance: distinct per running copy (Kafka transactional id).
        backoff_s: pause after a failed commit before reading again.
    """

    checkpoint_every: int = 1000
    checkpoint_interval_s: float = 5.0
    batch_size: int = 1000
    poll_timeout_s: float = 0.2
    instance: str = "0"
    backoff_s: float = 0.2

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= MAX_BATCH:
            raise ConfigError(f"batch_size must be 1..{MAX_BATCH}, got {self.batch_size}")
        if self.checkpoint_every < 1 or self.checkpoint_interval_s <= 0:
            raise ConfigError("checkpoint_every must be >= 1 and checkpoint_interval_s > 0")

    @property
    def policy(self) -> CheckpointPolicy:
        """The checkpoint part of these options."""
        return CheckpointPolicy(self.checkpoint_every, self.checkpoint_interval_s)


def audit_key_path(settings: Settings) -> Path:
    """Where the development audit key lives: ``<home>/keys/audit-ed25519.pem``."""
    return settings.home / "keys" / "audit-ed25519.pem"


def audit_signer(settings: Settings, *, path: Path | None = None) -> LocalKeySigner:
    """The audit worker's signer: the dev key file, created on first use.

    This is the development signer, what ``COVENANT_SIGNER`` means when it is empty.
    ``covenant.signing.config.open_signer`` chooses the HSM or the signing proxy instead
    (``run_audit_worker`` takes any ``Signer``), so production never has the private key
    in a file or in Covenant's memory.

    Args:
        settings: where the home folder is.
        path: a key file to use instead of the one under the home folder.

    Raises:
        ConfigError: the key file exists but cannot be used (wrong mode, not Ed25519).
    """
    key = path or audit_key_path(settings)
    if key.exists():
        return LocalKeySigner(key)
    key.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        return LocalKeySigner.generate(key)
    except ConfigError:
        if key.exists():  # another process created it first; use theirs
            return LocalKeySigner(key)
        raise


async def load_state(bus: Bus, codec: Codec) -> TreeState:
    """Rebuild the tree from the audit topic, checking that it holds together.

    Raises:
        AuditError: the audit topic does not continue itself (see ``TreeState.apply``).
    """
    state = TreeState()
    async for rec in bus.read([AUDIT]):
        try:
            state.apply(decode_audit(codec, rec.value))
        except AuditError as exc:
            raise AuditError(f"{rec.topic}/{rec.partition}@{rec.offset}: {exc}") from None
    if state.size > state.checkpoint_size:
        state.unsigned_since = time.monotonic()
    return state


async def run_audit_worker(
    *,
    bus: Bus,
    codec: Codec,
    signer: Signer,
    stop: asyncio.Event,
    options: AuditOptions | None = None,
) -> None:
    """Audit every topic but the audit topic until ``stop`` is set.

    The batch in hand is committed before returning. Leaves whose checkpoint was not
    yet due stay unsigned until the next run signs them, on its first due check once it
    knows its positions (a Kafka member learns them when the group assigns partitions;
    a transaction needs them to carry the checkpoint).

    Args:
        bus: the log.
        codec: writes the audit records and reads event ids of audited records; it must
            know ``LeavesAppended`` and ``CheckpointSigned``.
        signer: signs checkpoints.
        stop: set it to stop after the current batch.
        options: tuning; defaults suit both logs.

    Raises:
        FencedError: another audit worker took over the group.
        AuditError: the audit topic is inconsistent; the worker refuses to extend it.
    """
    opts = options or AuditOptions()
    inputs = audited_topics(ALL_TOPICS)
    await bus.ensure_topics(ALL_TOPICS)
    consumer = bus.consumer(group=GROUP, topics=inputs, instance=opts.instance)
    async with consumer:
        # Only once this member owns the group is the audit topic final to read.
        state = await load_state(bus, codec)
        log.info("audit worker started at tree size %d (key %s)", state.size, signer.key_id)
        committed = await consumer.positions()
        while not stop.is_set():
            records = await consumer.poll(
                max_records=opts.batch_size, timeout_s=opts.poll_timeout_s
            )
            offsets: dict[TopicPartition, int] = {}
            for rec in records:
                offsets[(rec.topic, rec.partition)] = rec.offset + 1
            positions = offsets or await consumer.positions()
            outputs = await audit_batch(
                state,
                records,
                codec=codec,
                signer=signer,
                policy=opts.policy,
                now=time.monotonic(),
                producer=GROUP,
                may_sign=bool(positions),
            )
            if not records and (outputs or positions != committed):
                # Idle: a due checkpoint, or positions moved past Kafka's transaction
                # markers. Committing the positions as they are is a no-op for the
                # group, and makes the checkpoint a write of this fenced member only.
                offsets = positions
            if not offsets:
                continue
            try:
                await consumer.commit(
                    outputs=[codec.outgoing(m) for m in outputs],
                    offsets=offsets,
                )
            except FencedError:
                raise
            except BusError as exc:
                if not exc.retriable:
                    raise
                log.warning("audit commit failed, rebuilding from the audit topic: %s", exc)
                await asyncio.sleep(opts.backoff_s)
                state = await load_state(bus, codec)
                await consumer.rewind()
                continue
            committed = await consumer.positions()
            if outputs:
                log.debug("audit tree size %d, signed %d", state.size, state.checkpoint_size)
        log.info("audit worker stopped at tree size %d", state.size)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m covenant.audit.worker",
        description="Run the audit worker until SIGTERM/SIGINT.",
    )
    parser.add_argument("--bus", help="log URL; default COVENANT_BUS or the embedded log")
    parser.add_argument("--key", type=Path, help="Ed25519 key file; default <home>/keys/…")
    parser.add_argument("--checkpoint-every", type=int, default=1000)
    parser.add_argument("--checkpoint-interval", type=float, default=5.0)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--instance", default="0")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m covenant.audit.worker``; returns the exit status."""
    args = _parse(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    settings = Settings.from_env()
    codec = default_codec()

    async def go() -> None:
        stop = asyncio.Event()
        install_stop_signals(stop)
        from covenant.signing.config import open_signer

        options = AuditOptions(
            checkpoint_every=args.checkpoint_every,
            checkpoint_interval_s=args.checkpoint_interval,
            batch_size=args.batch_size,
            instance=args.instance,
        )
        async with contextlib.AsyncExitStack() as stack:
            # --key is a dev key file, created on first use; else COVENANT_SIGNER decides.
            signer: Signer = (
                audit_signer(settings, path=args.key)
                if args.key
                else await stack.enter_async_context(open_signer(settings))
            )
            bus = await stack.enter_async_context(open_bus(args.bus or settings.bus_url))
            await run_audit_worker(bus=bus, codec=codec, signer=signer, stop=stop, options=options)

    try:
        asyncio.run(go())
    except CovenantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
