"""The gateway's view of training jobs: the training worker's own fold, read again.

``GET /train/jobs/{id}`` answers from a ``covenant.training.jobs.TrainingState``
that the gateway folds itself from ``covenant.evt.train`` and
``covenant.evt.dataset``, read as global tables (``Bus.table`` and
``covenant.runtime.tables.GlobalTables``), not from the read store. Why:

* The fold is the one definition of what a job's events add up to; the worker
  decides on it, so the gateway answering from the same code cannot disagree with
  the worker about a job's status (a store projection would be a second copy).
* It is caught up before every read (a read barrier: every record committed when
  the request arrived is folded), so a ``GET`` after a ``201`` always sees the job,
  which a read store following the log "within moments" cannot promise.

The price: the view is in memory and not persisted. Each gateway instance rebuilds
it from offset 0 when it starts (every train and dataset event, so start-up grows
with the log) and holds every job in memory. Past that size the answer is a
projection in the read store; the routes would not change.

Beside the worker's fold, this view keeps what the worker does not need but a
caller asks about: the flow (correlation id) a job's submit started, which a
cancel joins; the refusals of a rejected job; why a job failed or was cancelled
and when; the log of a failed run; the latest run record; each job's status
history; and the reproduction verdict of a rerun.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from covenant.bus.protocol import Bus
from covenant.events.base import Message
from covenant.events.codec import Codec
from covenant.events.refusals import Refusal, RefusalCode
from covenant.events.runs import RunRecord
from covenant.events.training import (
    JobStatus,
    TrainingCancelled,
    TrainingCompleted,
    TrainingFailed,
    TrainingQueued,
    TrainingRejected,
    TrainingReproduced,
    TrainingStarted,
)
from covenant.gateway._views import TableView
from covenant.topics import Topic
from covenant.training.jobs import Job, TrainingState, refuses_a_duplicate


@dataclass(frozen=True)
class Step:
    """One job event, for the status history: its type and when it happened."""

    type: str
    at: datetime
    event_id: str


@dataclass
class Extras:
    """What the gateway shows of a job beyond the worker's fold."""

    history: list[Step] = field(default_factory=list)
    correlation_id: str | None = None
    refusals: list[Refusal] = field(default_factory=list)
    reason: str | None = None
    ended_at: datetime | None = None
    logs_ref: str | None = None
    record: RunRecord | None = None
    reproduced: TrainingReproduced | None = None


@dataclass
class JobsState:
    """``TrainingState`` and the extras, folded together; idempotent like it."""

    topics: tuple[Topic, ...] = TrainingState.topics
    training: TrainingState = field(default_factory=TrainingState)
    extras: dict[str, Extras] = field(default_factory=dict)
    _seen: set[str] = field(default_factory=set)

    def reset(self) -> None:
        self.training.reset()
        self.extras.clear()
        self._seen.clear()

    def apply(self, message: Message) -> None:
        self.training.apply(message)
        job_id = getattr(message, "job_id", None)
        if job_id is None:
            job_id = getattr(getattr(message, "job", None), "job_id", None)
        if not isinstance(job_id, str) or message.meta.event_id in self._seen:
            return
        if (
            isinstance(message, TrainingRejected)
            and job_id in self.training.jobs
            and refuses_a_duplicate(message)
        ):
            return  # a second submit under this id: the existing job is untouched
        self._seen.add(message.meta.event_id)
        extras = self.extras.setdefault(job_id, Extras())
        extras.history.append(
            Step(message.meta.type, message.meta.occurred_at, message.meta.event_id)
        )
        _fold(extras, message)


def _fold(extras: Extras, message: Message) -> None:
    if isinstance(message, TrainingQueued):
        extras.correlation_id = extras.correlation_id or message.meta.correlation_id
    elif isinstance(message, TrainingRejected):
        extras.refusals = list(message.refusals) or [
            Refusal(code=RefusalCode.INVALID, message=reason) for reason in message.reasons
        ]
        extras.reason = "; ".join(message.reasons)
        extras.ended_at = message.meta.occurred_at
    elif isinstance(message, TrainingStarted) and message.record is not None:
        extras.record = message.record
    elif isinstance(message, TrainingCompleted):
        extras.record = message.record
        extras.logs_ref = message.logs_ref
        extras.ended_at = extras.ended_at or message.ended_at
    elif isinstance(message, TrainingFailed):
        extras.reason = message.reason
        extras.logs_ref = message.logs_ref or extras.logs_ref
        extras.ended_at = extras.ended_at or message.meta.occurred_at
    elif isinstance(message, TrainingCancelled):
        extras.reason = message.reason
        extras.ended_at = extras.ended_at or message.meta.occurred_at
    elif isinstance(message, TrainingReproduced):
        extras.reproduced = message


@dataclass(frozen=True)
class JobView:
    """One job as a caller sees it; ``job`` is None for a job refused at submit
    (it never had a recorded spec)."""

    job_id: str
    status: JobStatus
    job: Job | None
    extras: Extras


class Jobs(TableView[JobsState]):
    """The caught-up view; ``start`` rebuilds it, ``get`` is the read barrier.

    Args:
        bus: the log to read the tables from.
        codec: decodes the records.
    """

    def __init__(self, *, bus: Bus, codec: Codec) -> None:
        super().__init__(bus=bus, codec=codec, state=JobsState())

    async def get(self, job_id: str) -> JobView | None:
        """The job as of every record committed before this call, or None.

        Raises:
            BusError: the log could not be read (the gateway answers 503).
        """
        await self.catch_up()
        state = self._state
        job = state.training.jobs.get(job_id)
        extras = state.extras.get(job_id, Extras())
        if job is not None:
            return JobView(job_id, job.status, job, extras)
        if job_id in state.training.rejected:
            return JobView(job_id, JobStatus.REJECTED, None, extras)
        return None
