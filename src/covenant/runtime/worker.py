"""What a worker is: a name, the command topics it consumes, and a decision.

The runtime (``covenant.runtime.runner``) reads a batch, calls the handler with a
``Context`` it emits through, and commits every output of the batch together with
the batch's offsets, so a crash at any instant applied a whole batch or none.

State: a worker that decides about entities ("is this version new?") declares a
``WorkerState`` folded from fact topics. Those topics are global tables (see
``covenant.runtime.tables``): read from every partition, outside the consumer
group, and caught up before each batch, so instances of one worker scale out
without any of them deciding on facts it cannot see. Decisions that must be unique
per entity stay single-writer: commands are keyed by entity, and one group member
owns each command partition.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from covenant.bus.protocol import Outgoing
from covenant.events.base import SYSTEM_CLOCK, UUID7_IDS, Clock, IdSource, Message
from covenant.topics import Topic

M = TypeVar("M", bound=Message)


class Context:
    """What a handler may do: emit records caused by the one being handled.

    Emitted records inherit the flow's correlation id and actor, and name the input
    as their cause, so the log links every fact to the intent behind it. Their time
    and id come from ``clock`` and ``ids`` (the system ones unless given), so a test
    can drive a handler with a deterministic clock and id source.
    """

    def __init__(
        self,
        *,
        worker: str,
        cause: Message,
        clock: Clock = SYSTEM_CLOCK,
        ids: IdSource = UUID7_IDS,
        position: tuple[str, int, int] | None = None,
    ) -> None:
        self.worker = worker
        self.cause = cause
        #: Where the cause was read (topic, partition, offset), for a worker that
        #: records positions it will replay from (see ``Replayed``).
        self.position = position
        self.clock = clock
        self.ids = ids
        self.emitted: list[Message] = []
        self.raw: list[Outgoing] = []

    def emit(
        self,
        cls: type[M],
        *,
        subject: str | None = None,
        correlation_id: str | None = None,
        actor: str | None = None,
        **body: Any,
    ) -> M:
        """Build and queue a record; it is written only when the batch commits.

        ``correlation_id`` and ``actor`` default to the cause's; a worker that
        acts for another flow than the one it is handling (an allocator granting a
        queued job while it handles a release) names that flow's.
        """
        message: M = cls.create(
            subject=subject or self.cause.meta.subject,
            actor=actor or self.cause.meta.actor,
            producer=self.worker,
            correlation_id=correlation_id or self.cause.meta.correlation_id,
            causation_id=self.cause.meta.event_id,
            idempotency_key=self.cause.meta.idempotency_key,
            clock=self.clock,
            ids=self.ids,
            **body,
        )
        self.emitted.append(message)
        return message

    def emit_raw(self, topic: Topic, *, key: bytes, value: bytes) -> None:
        """Queue bytes outside our contract (JSON for outside tools) on an export
        topic; committed with the batch like every other output."""
        self.raw.append(Outgoing(topic, key, value))


Handler = Callable[[Message, Context], Awaitable[None]]


class WorkerState(Protocol):
    """What a stateful worker knows, folded from fact topics read as global tables.

    ``apply`` must be idempotent: a worker folds its own outputs when it emits
    them and again when the table reads them back from the log.
    """

    topics: tuple[Topic, ...]

    def reset(self) -> None:
        """Forget everything, before a replay."""
        ...

    def apply(self, message: Message) -> None:
        """Fold one record into the state."""
        ...


class Replayed(Protocol):
    """Work in progress a worker keeps in memory between outputs, rebuilt from its input.

    A windowed worker (drift) folds many input records before it emits anything, so
    after a crash or a failed commit the committed offsets are past records whose
    effect lived only in memory. The runner asks where that work began
    (``replay_from``), forgets it, and feeds the input from there up to the committed
    offsets back through ``refold``, which must redo exactly what handling did to the
    memory and emit nothing (its outputs were committed already).
    """

    def forget(self) -> None:
        """Drop all work in progress."""
        ...

    def replay_from(self) -> dict[tuple[str, int], int]:
        """(topic, partition) → first offset whose effect is still only in memory."""
        ...

    async def refold(self, message: Message, position: tuple[str, int, int]) -> None:
        """Redo a committed record's effect on the memory, emitting nothing."""
        ...


@dataclass(frozen=True)
class Worker:
    """A stream worker's declaration.

    Attributes:
        name: also its consumer group; keep it stable, offsets are stored under it.
        inputs: topics it consumes in its group, split between its instances
            (commands, keyed by the entity they change).
        outputs: topics it may write (created at start-up; documentation for readers).
        accepts: the message types it handles; any other record on its inputs is
            dead-lettered, since a worker that silently skipped it would hide a
            misrouted command.
        handle: the decision, ``async (message, ctx) -> None``.
        description: one line for ``covenant worker --help`` and logs.
        state: what it decides on, folded from every partition of
            ``state.topics`` (global tables, caught up before each batch).
        replay: work in progress rebuilt from its own input after a restart or a
            failed commit (see ``Replayed``).
    """

    name: str
    inputs: tuple[Topic, ...]
    outputs: tuple[Topic, ...]
    accepts: tuple[type[Message], ...]
    handle: Handler
    description: str = ""
    state: WorkerState | None = None
    replay: Replayed | None = None
