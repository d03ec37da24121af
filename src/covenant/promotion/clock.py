"""The promotion clock: a promotion whose policy answer is late fails closed.

A stream worker decides only when a record arrives, and an external SentinelNet that
never answers sends none, so something must notice the silence. The clock reads the
promotion facts as a global table and, once a pending promotion has waited longer
than ``COVENANT_POLICY_TIMEOUT_S`` for its decision, writes ``promotion.expire``.
At least once is enough: the promotion worker acts on the first expiry of a promotion
still waiting and ignores the rest (and any decision that comes after it).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import timedelta

from covenant.bus.protocol import Bus
from covenant.events.base import SYSTEM_CLOCK, Clock
from covenant.events.codec import Codec
from covenant.events.promotion import ExpirePromotion
from covenant.promotion.state import PromotionState
from covenant.runtime.tables import GlobalTables

__all__ = ["PromotionClock"]

PRODUCER = "promotion-clock"


@dataclass
class PromotionClock:
    """Expires promotions whose policy decision is overdue."""

    bus: Bus
    codec: Codec
    timeout_s: float
    interval_s: float = 0.5
    clock: Clock = SYSTEM_CLOCK
    table: PromotionState = field(default_factory=PromotionState)
    _expired: set[str] = field(default_factory=set)

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until ``stop`` is set."""
        async with self.bus.table(self.table.topics) as reader:
            tables = GlobalTables(self.table, table=reader, codec=self.codec, worker=PRODUCER)
            await tables.rebuild()
            while not stop.is_set():
                await tables.catch_up()
                await self.tick()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.interval_s)

    def overdue(self) -> list[ExpirePromotion]:
        """The expiries due now, each promotion once per clock."""
        now = self.clock.now()
        limit = timedelta(seconds=self.timeout_s)
        out: list[ExpirePromotion] = []
        for pending in self.table.awaiting_policy():
            if pending.promotion_id in self._expired or now - pending.requested_at < limit:
                continue
            self._expired.add(pending.promotion_id)
            out.append(
                ExpirePromotion.create(
                    subject=f"model:{pending.model_id}",
                    actor="covenant",
                    producer=PRODUCER,
                    correlation_id=pending.correlation_id,
                    clock=self.clock,
                    promotion_id=pending.promotion_id,
                    model_id=pending.model_id,
                    waiting_for="policy",
                    timeout_s=self.timeout_s,
                )
            )
        return out

    async def tick(self) -> None:
        """Write the expiries due now."""
        due = self.overdue()
        if due:
            await self.bus.publish([self.codec.outgoing(m) for m in due])
