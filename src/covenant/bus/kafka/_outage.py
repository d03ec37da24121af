"""Broker outages as a few lines of state change, instead of the client's spam.

While a broker is unreachable, aiokafka logs an error for every connection it
tries and every request that could not be sent: a 30 s outage of a running
worker wrote 1,400 to 2,400 such lines here, and a worker started while the
broker was down exited on the first of them, to be restarted into the same
error by its supervisor. What an operator needs is when the broker went away,
that we are still waiting, and when it came back:

    kafka: broker 127.0.0.1:9092 unreachable, waiting (retrying with backoff)
    kafka: still waiting for broker after 30 s
    kafka: broker back after 41 s

``OutageLog`` is that state machine (pure: the clock is injectable).
``ConnectionNoise`` is a logging filter on aiokafka's loggers that turns each
connection-error record into a ``lost`` signal and drops it; everything else
the client logs passes through. The adapter reports ``back`` when a call to the
broker succeeds again.

A logging filter applies only to records created on the logger it is attached
to, not to its children's, so it goes on each aiokafka logger that reports
connection failures. Several buses in one process each attach their own; a
record is folded into the lines of the first one attached (one process
normally talks to one cluster). With aiokafka's loggers at DEBUG nothing is
dropped: whoever turned that on is debugging the client and wants every line.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable

log = logging.getLogger("covenant.bus.kafka")

# Every aiokafka logger that reports connection failures (aiokafka 0.14).
AIOKAFKA_LOGGERS = (
    "aiokafka",  # the client: bootstrap, connections, metadata
    "aiokafka.conn",
    "aiokafka.cluster",
    "aiokafka.admin.client",
    "aiokafka.consumer.consumer",
    "aiokafka.consumer.fetcher",
    "aiokafka.consumer.group_coordinator",
    "aiokafka.producer.producer",
    "aiokafka.producer.sender",
)

# What aiokafka says when it cannot reach a broker: connection failures, and the
# requests that failed because the node was not connected.
_CONNECTION_ERROR = re.compile(
    r"Unable connect to"
    r"|Unable to (?:update|request) metadata"
    r"|NodeNotReadyError|KafkaConnectionError|RequestTimedOutError"
    r"|Connect call failed|Connection refused|ConnectionResetError"
    r"|Connection at \S+ closed"
)


def is_connection_error(record: logging.LogRecord) -> bool:
    """Whether ``record`` is one of aiokafka's warnings or errors about a broker it
    cannot reach."""
    if record.levelno < logging.WARNING or not record.name.startswith("aiokafka"):
        return False
    return _CONNECTION_ERROR.search(record.getMessage()) is not None


class OutageLog:
    """The state-change lines of one cluster's connection: lost, still waiting
    (every ``every_s`` while signals keep coming), back.

    Safe to call from any thread: logging filters run wherever a record is made.

    Args:
        bootstrap: the ``host:port`` list the lines name.
        every_s: how often a continuing outage is reported again.
        clock: monotonic seconds.
        logger: where the lines go (WARNING: they must show without ``-v``).
    """

    def __init__(
        self,
        bootstrap: str,
        *,
        every_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger = log,
    ) -> None:
        self.bootstrap = bootstrap
        self._every_s = every_s
        self._clock = clock
        self._log = logger
        self._lock = threading.Lock()
        self._since: float | None = None
        self._reported = 0.0

    @property
    def down(self) -> bool:
        """Whether the broker counts as unreachable now."""
        return self._since is not None

    def lost(self, reason: str) -> None:
        """A try to reach the broker failed with ``reason``."""
        with self._lock:
            now = self._clock()
            if self._since is None:
                self._since = self._reported = now
                self._log.warning(
                    "kafka: broker %s unreachable, waiting (retrying with backoff)",
                    self.bootstrap,
                )
                self._log.debug("kafka: the first failure: %s", reason)
            elif now - self._reported >= self._every_s:
                self._reported = now
                self._log.warning(
                    "kafka: still waiting for broker after %d s", int(now - self._since)
                )

    def back(self) -> None:
        """A call to the broker succeeded; cheap when nothing was lost."""
        if self._since is None:  # the common case: no lock on every publish
            return
        with self._lock:
            if self._since is None:
                return
            elapsed, self._since = self._clock() - self._since, None
            self._log.warning("kafka: broker back after %d s", int(elapsed))


class ConnectionNoise(logging.Filter):
    """Drops aiokafka's connection errors, telling ``outage`` of each instead.

    Use ``attach`` and ``detach``: it must sit on every logger in
    ``AIOKAFKA_LOGGERS`` to catch them all.
    """

    def __init__(self, outage: OutageLog) -> None:
        super().__init__()
        self.outage = outage

    def filter(self, record: logging.LogRecord) -> bool:
        if not is_connection_error(record):
            return True
        self.outage.lost(record.getMessage())
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)

    def attach(self) -> None:
        """Start folding; attaching twice adds it once (``Logger.addFilter``)."""
        for name in AIOKAFKA_LOGGERS:
            logging.getLogger(name).addFilter(self)

    def detach(self) -> None:
        """Stop folding; harmless when not attached."""
        for name in AIOKAFKA_LOGGERS:
            logging.getLogger(name).removeFilter(self)
