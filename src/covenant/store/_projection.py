"""One projection's batches: decode, apply, and set aside what cannot be projected.

Shared by the live projector and ``rebuild`` so the two treat every record alike,
which is what makes a rebuild equal the live result. See ``projector`` for the
policy on undecodable and refused records.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from covenant.bus.protocol import Record, TopicPartition
from covenant.errors import ContractError, CovenantError, StoreError
from covenant.events.base import Message
from covenant.events.codec import Codec
from covenant.store.protocol import ReadStore

log = logging.getLogger("covenant.store.projector")

_MAX_BACKOFF_S = 5.0
T = TypeVar("T")


@dataclass
class ProjectionStats:
    """What one run did (this process only; the store holds the totals).

    Attributes:
        applied: new events of a projected type written to the store.
        undecodable: records skipped because they did not decode.
        unprojectable: events skipped because the store refused them.
    """

    applied: int = 0
    undecodable: int = 0
    unprojectable: int = 0


class StopRequestedError(CovenantError):
    """A stop was asked for while waiting out a store error; nothing was half-done."""

    def __init__(self) -> None:
        super().__init__("stop requested while waiting out a store error")


class Projection:
    """Applies batches of records for one projection name, counting as it goes."""

    def __init__(self, *, store: ReadStore, codec: Codec, name: str, stop: asyncio.Event) -> None:
        self.store = store
        self.codec = codec
        self.name = name
        self.stop = stop
        self.stats = ProjectionStats()

    async def project(self, records: Sequence[Record]) -> None:
        """Decode and apply ``records``; an undecodable record splits the batch, so
        it is recorded exactly where it lies whatever the batching was."""
        events: list[tuple[TopicPartition, int, Message]] = []
        for record in records:
            tp = (record.topic, record.partition)
            try:
                message = self.codec.decode(record.value)
            except ContractError as exc:
                await self._apply(events)
                events = []
                self.stats.undecodable += 1
                log.warning(
                    "projection %s: skipping undecodable %s/%d@%d: %s",
                    self.name,
                    record.topic,
                    record.partition,
                    record.offset,
                    exc,
                )
                await self._skip(tp, record.offset, f"undecodable: {exc}", None)
                continue
            events.append((tp, record.offset, message))
        await self._apply(events)

    async def _apply(self, events: list[tuple[TopicPartition, int, Message]]) -> None:
        if not events:
            return
        try:
            self.stats.applied += await self._retrying(
                lambda: self.store.apply(projection=self.name, events=events)
            )
            return
        except StoreError as exc:
            if exc.retriable:
                raise
        for tp, offset, message in events:  # find the event the store refuses
            try:
                self.stats.applied += await self._retrying(
                    lambda: self.store.apply(
                        projection=self.name,
                        events=[(tp, offset, message)],  # noqa: B023 - awaited at once
                    )
                )
            except StoreError as exc:
                if exc.retriable:
                    raise
                self.stats.unprojectable += 1
                log.error(
                    "projection %s: skipping %s at %s/%d@%d, the store refuses it: %s",
                    self.name,
                    message.meta.type,
                    tp[0],
                    tp[1],
                    offset,
                    exc,
                )
                await self._skip(tp, offset, str(exc), message.meta.event_id)

    async def _skip(
        self, tp: TopicPartition, offset: int, reason: str, event_id: str | None
    ) -> None:
        await self._retrying(
            lambda: self.store.skip(
                projection=self.name,
                topic_partition=tp,
                offset=offset,
                reason=reason,
                event_id=event_id,
            )
        )

    async def _retrying(self, operation: Callable[[], Awaitable[T]]) -> T:
        backoff = 0.05
        while True:
            try:
                return await operation()
            except StoreError as exc:
                if not exc.retriable:
                    raise
                log.warning("projection %s: store error, retrying: %s", self.name, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), timeout=backoff)
            if self.stop.is_set():
                raise StopRequestedError
            backoff = min(backoff * 2, _MAX_BACKOFF_S)
