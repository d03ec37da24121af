"""Riding out a broker that is not there yet, or not any more.

A worker started while the broker is down (a restart of both, a broker that
comes up second in a deployment) used to exit with the client's first
connection error, and its supervisor restarted it into the same error again.
A Kafka client should wait instead: every start of a client (producer, group
member, admin, reader) and the topic creation the runtime runs at start go
through ``Reconnect``, which retries transient failures with capped exponential
backoff and reports the outage through ``OutageLog`` as state changes.

By default it waits for as long as it takes, like the Java client's consumers;
``give_up_after_s`` bounds that for callers that would rather fail. Failures
that waiting cannot cure (a refused authentication, an invalid configuration)
are raised at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError, NodeNotReadyError

from covenant.bus.kafka._outage import OutageLog
from covenant.errors import BusError

T = TypeVar("T")


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` may clear by itself once the broker is reachable: the
    client's connection errors and timeouts, and any error Kafka marks retriable."""
    if isinstance(exc, KafkaConnectionError | KafkaTimeoutError | NodeNotReadyError):
        return True
    if isinstance(exc, KafkaError):
        return bool(exc.retriable)
    return isinstance(exc, TimeoutError | ConnectionError)


def is_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says the broker could not be reached at all. Narrower than
    ``is_transient``: a timeout may only mean a topic that does not exist (the
    client waits for its metadata), which is no outage to report."""
    return isinstance(exc, KafkaConnectionError | NodeNotReadyError | ConnectionError)


@dataclass(frozen=True)
class Backoff:
    """Capped exponential backoff with a little jitter, so a fleet of workers
    restarted together does not knock on the broker in step.

    Attributes:
        first_s: the pause after the first failure.
        factor: growth per failure.
        max_s: the cap; also bounds how late a recovered broker is noticed.
        jitter: each pause is off by up to this fraction either way.
    """

    first_s: float = 0.2
    factor: float = 2.0
    max_s: float = 5.0
    jitter: float = 0.1

    def delay_s(self, failures: int, *, rand: Callable[[], float] = random.random) -> float:
        """The pause after ``failures`` failures in a row (1 for the first)."""
        base = min(self.max_s, self.first_s * self.factor ** max(0, failures - 1))
        return base * (1 + self.jitter * (2 * rand() - 1))


class Reconnect:
    """Runs broker calls again until they succeed, reporting the outage.

    Args:
        outage: told of every transient failure and of the success after them.
        backoff: the pauses between tries.
        give_up_after_s: raise ``BusError`` once failures have gone on this long
            (None: never).
        sleep, clock: injectable for tests.
    """

    def __init__(
        self,
        outage: OutageLog,
        *,
        backoff: Backoff | None = None,
        give_up_after_s: float | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.outage = outage
        self._backoff = backoff or Backoff()
        self._give_up_after_s = give_up_after_s
        self._sleep = sleep
        self._clock = clock

    async def run(self, attempt: Callable[[], Awaitable[T]], *, what: str) -> T:
        """``await attempt()`` until it does not fail transiently; ``what`` names
        it in errors ("start the producer"). An attempt must leave nothing open
        when it fails: the next one starts from scratch.

        Raises:
            BusError: (retriable) after ``give_up_after_s`` of failures.
            Exception: whatever ``attempt`` raised that is not transient.
        """
        failures = 0
        first_failure = 0.0
        while True:
            try:
                result = await attempt()
            except Exception as exc:
                if not is_transient(exc):
                    raise
                failures += 1
                now = self._clock()
                if failures == 1:
                    first_failure = now
                self.outage.lost(f"cannot {what}: {exc}")
                waited = now - first_failure
                if self._give_up_after_s is not None and waited >= self._give_up_after_s:
                    raise BusError(
                        f"cannot {what}: Kafka at {self.outage.bootstrap} unreachable"
                        f" for {waited:.0f} s: {exc}"
                    ) from exc
                await self._sleep(self._backoff.delay_s(failures))
                continue
            self.outage.back()
            return result


async def start_or_close(
    start: Callable[[], Awaitable[None]], close: Callable[[], Awaitable[None]]
) -> None:
    """Start a client; when that fails, close it before raising, so a failed try
    leaves no connections or background tasks behind."""
    try:
        await start()
    except BaseException:
        with contextlib.suppress(Exception):  # the start's error is the one to raise
            await close()
        raise
