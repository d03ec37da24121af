"""What drift has said about each model, folded from the drift events alone.

The gateway's ``GET /drift/{modelId}`` and the report read this: every window's
scores, each alert, retrain proposal and quarantine with where it stands, and every
refusal of a human decision. Bounded per model (the last :data:`KEPT` windows, and
alerts, findings and decisions likewise): the whole history is on the log, which
``covenant events`` reads in full; this is the view people open.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from covenant.events.base import Message
from covenant.events.drift import (
    DriftAlerted,
    DriftDecisionRefused,
    DriftFinding,
    DriftScored,
    QuarantineApplied,
    QuarantineReleased,
    QuarantineSignedOff,
    RetrainApproved,
    RetrainProposed,
)
from covenant.topics import DRIFT_EVENTS, Topic

__all__ = ["KEPT", "DriftHistory", "ModelDrift", "ProposalView", "QuarantineView"]

KEPT = 500
SEEN = 10_000


@dataclass
class ProposalView:
    proposed: RetrainProposed
    approved: RetrainApproved | None = None
    refusals: list[DriftDecisionRefused] = field(default_factory=list)


@dataclass
class QuarantineView:
    applied: QuarantineApplied
    signoffs: list[QuarantineSignedOff] = field(default_factory=list)
    released: QuarantineReleased | None = None
    refusals: list[DriftDecisionRefused] = field(default_factory=list)


@dataclass
class ModelDrift:
    """One model version's drift, newest last."""

    windows: deque[DriftScored] = field(default_factory=lambda: deque(maxlen=KEPT))
    alerts: deque[DriftAlerted] = field(default_factory=lambda: deque(maxlen=KEPT))
    findings: deque[DriftFinding] = field(default_factory=lambda: deque(maxlen=KEPT))
    proposals: list[str] = field(default_factory=list)
    quarantines: list[str] = field(default_factory=list)


@dataclass
class DriftHistory:
    """Per model, per proposal and per quarantine; idempotent by event id per model."""

    topics: tuple[Topic, ...] = (DRIFT_EVENTS,)
    models: dict[str, ModelDrift] = field(default_factory=dict)
    proposals: dict[str, ProposalView] = field(default_factory=dict)
    quarantines: dict[str, QuarantineView] = field(default_factory=dict)
    _seen: set[str] = field(default_factory=set)
    _order: deque[str] = field(default_factory=deque)

    def reset(self) -> None:
        self.models.clear()
        self.proposals.clear()
        self.quarantines.clear()
        self._seen.clear()
        self._order.clear()

    def model(self, model_id: str) -> ModelDrift:
        return self.models.setdefault(model_id, ModelDrift())

    def apply(self, message: Message) -> None:
        # A repeat arrives soon after its first (a fold of our own output read back),
        # so remembering the last SEEN ids is enough, and keeps memory bounded.
        event_id = message.meta.event_id
        if event_id in self._seen:
            return
        self._seen.add(event_id)
        self._order.append(event_id)
        if len(self._order) > SEEN:
            self._seen.discard(self._order.popleft())
        if isinstance(message, DriftScored):
            self.model(message.model_id).windows.append(message)
        elif isinstance(message, DriftAlerted):
            self.model(message.model_id).alerts.append(message)
        elif isinstance(message, DriftFinding):
            self.model(message.model_id).findings.append(message)
        elif isinstance(message, RetrainProposed):
            if message.proposal_id not in self.proposals:
                self.proposals[message.proposal_id] = ProposalView(message)
                self.model(message.model_id).proposals.append(message.proposal_id)
        elif isinstance(message, RetrainApproved):
            proposal = self.proposals.get(message.proposal_id)
            if proposal is not None:
                proposal.approved = message
        elif isinstance(message, QuarantineApplied):
            if message.quarantine_id not in self.quarantines:
                self.quarantines[message.quarantine_id] = QuarantineView(message)
                self.model(message.model_id).quarantines.append(message.quarantine_id)
        elif isinstance(message, QuarantineSignedOff):
            view = self.quarantines.get(message.quarantine_id)
            if view is not None:
                view.signoffs.append(message)
        elif isinstance(message, QuarantineReleased):
            view = self.quarantines.get(message.quarantine_id)
            if view is not None:
                view.released = message
        elif isinstance(message, DriftDecisionRefused):
            self._refused(message)

    def _refused(self, message: DriftDecisionRefused) -> None:
        target = self.proposals.get(message.subject_id) or self.quarantines.get(message.subject_id)
        if target is not None:
            target.refusals.append(message)
            del target.refusals[:-20]
