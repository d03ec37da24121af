"""The gateway's view of promotions: the promotion worker's own fold, read again.

Like the job view (``covenant.gateway.jobs``): a ``PromotionState`` folded from the
promotion, model and dataset events as global tables, caught up before every read,
so what ``GET /promotions/{id}`` says is what the worker decides on. Beside it, each
promotion's outcome: blocked with its reasons, or promoted with the signature link,
and the approvals that were refused. In memory, rebuilt from the log at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from covenant.bus.protocol import Bus
from covenant.events.base import Message
from covenant.events.codec import Codec
from covenant.events.promotion import (
    ApprovalRefused,
    ManifestSignature,
    ModelPromoted,
    PromotionBlocked,
    PromotionPending,
)
from covenant.gateway._views import TableView
from covenant.promotion.state import Pending, PromotionState

__all__ = ["PromotionView", "Promotions"]


@dataclass
class _Outcome:
    first: PromotionPending | PromotionBlocked | None = None
    blocked: PromotionBlocked | None = None
    promoted: ModelPromoted | None = None
    refused: list[ApprovalRefused] = field(default_factory=list)


@dataclass
class _ViewState(PromotionState):
    outcomes: dict[str, _Outcome] = field(default_factory=dict)
    _seen: set[str] = field(default_factory=set)

    def reset(self) -> None:
        super().reset()
        self.outcomes.clear()
        self._seen.clear()

    def apply(self, message: Message) -> None:
        super().apply(message)
        promotion_id = getattr(message, "promotion_id", None)
        if not isinstance(promotion_id, str) or message.meta.event_id in self._seen:
            return
        self._seen.add(message.meta.event_id)
        outcome = self.outcomes.setdefault(promotion_id, _Outcome())
        if isinstance(message, PromotionPending | PromotionBlocked) and outcome.first is None:
            outcome.first = message
        if isinstance(message, PromotionBlocked):
            outcome.blocked = message
        elif isinstance(message, ModelPromoted):
            outcome.promoted = message
        elif isinstance(message, ApprovalRefused):
            outcome.refused.append(message)


@dataclass(frozen=True)
class PromotionView:
    """One promotion as a caller sees it.

    Attributes:
        status: ``pending``, ``blocked`` or ``promoted``.
        pending: what it waits for, while pending (also kept for a decided one that
            waited, so its approvals still show).
    """

    promotion_id: str
    model_id: str
    target: str
    status: str
    pending: Pending | None
    blocked: PromotionBlocked | None
    promoted: ModelPromoted | None
    refused: tuple[ApprovalRefused, ...]
    first: PromotionPending | PromotionBlocked


class Promotions(TableView[_ViewState]):
    """The caught-up view; ``start`` rebuilds it, ``get`` is the read barrier."""

    def __init__(self, *, bus: Bus, codec: Codec) -> None:
        super().__init__(bus=bus, codec=codec, state=_ViewState())

    async def signed(self, artifact_id: str) -> list[ManifestSignature]:
        """The latest manifest signature of every version whose artifact this is."""
        await self.catch_up()
        state = self._state
        return [
            signature
            for model_id, signature in sorted(state.signatures.items())
            if (view := state.models.get(model_id)) and view.entry.artifact_id == artifact_id
        ]

    async def get(self, promotion_id: str) -> PromotionView | None:
        """The promotion as of every record committed before this call, or None."""
        await self.catch_up()
        outcome = self._state.outcomes.get(promotion_id)
        if outcome is None or outcome.first is None:
            return None
        first = outcome.first
        status = "promoted" if outcome.promoted else "blocked" if outcome.blocked else "pending"
        return PromotionView(
            promotion_id=promotion_id,
            model_id=first.model_id,
            target=first.target.value,
            status=status,
            pending=self._state.pending.get(promotion_id),
            blocked=outcome.blocked,
            promoted=outcome.promoted,
            refused=tuple(outcome.refused),
            first=first,
        )
