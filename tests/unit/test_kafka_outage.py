"""Broker outages on the Kafka adapter, as pure logic: the state-change lines,
the filter that folds aiokafka's connection errors into them, the backoff, and
the retry loop that waits for the broker (no broker here: see
tests/integration/test_broker_outage.py for the real one)."""

from __future__ import annotations

import logging

import pytest
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, SaslAuthenticationFailed

from covenant.bus.kafka._connect import Backoff, Reconnect, is_transient, is_unreachable
from covenant.bus.kafka._outage import AIOKAFKA_LOGGERS, ConnectionNoise, OutageLog
from covenant.errors import BusError

LOGGER = "test.kafka.outage"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno >= 30]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def outage(clock: Clock, caplog: pytest.LogCaptureFixture) -> OutageLog:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    return OutageLog("127.0.0.1:9092", every_s=30, clock=clock, logger=logging.getLogger(LOGGER))


def test_an_outage_is_one_line_when_lost_one_per_period_and_one_when_back(
    outage: OutageLog, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    assert not outage.down
    for second in range(0, 72):  # a failure a second, as a client retrying would
        clock.now = 1000.0 + second
        outage.lost("Connect call failed")
    clock.now = 1000.0 + 81.6
    outage.back()
    outage.back()  # already up: nothing more to say
    assert lines(caplog) == [
        "kafka: broker 127.0.0.1:9092 unreachable, waiting (retrying with backoff)",
        "kafka: still waiting for broker after 30 s",
        "kafka: still waiting for broker after 60 s",
        "kafka: broker back after 81 s",
    ]
    assert not outage.down


def test_a_second_outage_starts_over(
    outage: OutageLog, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    outage.lost("refused")
    clock.now += 5
    outage.back()
    clock.now += 100
    outage.lost("refused")
    assert outage.down
    clock.now += 29
    outage.lost("refused")
    assert lines(caplog) == [
        "kafka: broker 127.0.0.1:9092 unreachable, waiting (retrying with backoff)",
        "kafka: broker back after 5 s",
        "kafka: broker 127.0.0.1:9092 unreachable, waiting (retrying with backoff)",
    ]


def test_back_without_an_outage_says_nothing(
    outage: OutageLog, caplog: pytest.LogCaptureFixture
) -> None:
    outage.back()
    assert lines(caplog) == []


def test_the_first_failure_is_kept_at_debug(
    outage: OutageLog, caplog: pytest.LogCaptureFixture
) -> None:
    outage.lost("[Errno 111] Connect call failed ('127.0.0.1', 9092)")
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert debug == [
        "kafka: the first failure: [Errno 111] Connect call failed ('127.0.0.1', 9092)"
    ]


# Lines aiokafka 0.14 wrote during a 30 s outage of a running worker, by logger.
NOT_READY = "NodeNotReadyError: Attempt to send a request to node which is not ready (node id 1)."
CONNECTION_ERRORS = [
    ("aiokafka", "Unable connect to node with id 1: [Errno 111] Connect call failed ('::1', 9)"),
    ("aiokafka", "Unable to update metadata from [1]"),
    ("aiokafka", 'Unable connect to "127.0.0.1:9092": [Errno 111] Connect call failed'),
    (
        "aiokafka",
        "Unable to request metadata from node with id 1:"
        " KafkaConnectionError('Connection at 127.0.0.1:43485 closed')",
    ),
    ("aiokafka.consumer.group_coordinator", f"Group Coordinator Request failed: {NOT_READY}"),
    (
        "aiokafka.consumer.group_coordinator",
        f"Error sending JoinGroupRequest to node 1 [{NOT_READY}] -- marking coordinator dead",
    ),
]

COORDINATOR = "aiokafka.consumer.group_coordinator"
OTHER_LINES = [
    (logging.INFO, COORDINATOR, "Discovered coordinator 1 for group registry"),
    # The broker answers but its coordinator is still loading: not an outage.
    (logging.WARNING, COORDINATOR, "Marking the coordinator dead (node 1)for group registry."),
    (
        logging.ERROR,
        COORDINATOR,
        "Group Coordinator Request failed: [Error 15] GroupCoordinatorNotAvailableError",
    ),
    (logging.ERROR, "covenant.runtime.worker", "Unable connect to the read store"),
    (logging.INFO, "aiokafka", "Unable connect to node with id 1: [Errno 111] Connect call failed"),
]


def record(level: int, name: str, message: str) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, None, None)


@pytest.mark.parametrize(("name", "message"), CONNECTION_ERRORS)
def test_connection_errors_are_folded_into_the_outage(
    outage: OutageLog, name: str, message: str
) -> None:
    noise = ConnectionNoise(outage)
    assert noise.filter(record(logging.ERROR, name, message)) is False
    assert outage.down


@pytest.mark.parametrize(("level", "name", "message"), OTHER_LINES)
def test_everything_else_passes_through(
    outage: OutageLog, level: int, name: str, message: str
) -> None:
    noise = ConnectionNoise(outage)
    assert noise.filter(record(level, name, message)) is True
    assert not outage.down


def test_with_aiokafka_at_debug_nothing_is_dropped(outage: OutageLog) -> None:
    noise = ConnectionNoise(outage)
    client = logging.getLogger("aiokafka")
    level = client.level
    client.setLevel(logging.DEBUG)
    try:
        assert noise.filter(record(logging.ERROR, *CONNECTION_ERRORS[0])) is True
    finally:
        client.setLevel(level)
    assert outage.down  # still counted


def test_attached_it_folds_hundreds_of_client_errors_into_one_line(
    outage: OutageLog, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    noise = ConnectionNoise(outage)
    noise.attach()
    noise.attach()  # once is enough; twice changes nothing
    try:
        for _ in range(300):
            for name, message in CONNECTION_ERRORS:
                logging.getLogger(name).error(message)
        logging.getLogger("aiokafka.consumer.fetcher").info("still here")
    finally:
        noise.detach()
    assert [r.getMessage() for r in caplog.records if r.name.startswith("aiokafka")] == [
        "still here"
    ]
    assert lines(caplog) == [
        "kafka: broker 127.0.0.1:9092 unreachable, waiting (retrying with backoff)"
    ]
    for name in AIOKAFKA_LOGGERS:
        assert noise not in logging.getLogger(name).filters
    logging.getLogger("aiokafka").error(CONNECTION_ERRORS[0][1])  # detached: shows again
    assert caplog.records[-1].name == "aiokafka"


def test_backoff_grows_exponentially_up_to_its_cap() -> None:
    backoff = Backoff(first_s=0.2, factor=2, max_s=5, jitter=0.1)
    middle = [backoff.delay_s(n, rand=lambda: 0.5) for n in range(1, 9)]
    assert middle == pytest.approx([0.2, 0.4, 0.8, 1.6, 3.2, 5, 5, 5])
    assert backoff.delay_s(1, rand=lambda: 0.0) == pytest.approx(0.18)
    assert backoff.delay_s(20, rand=lambda: 1.0) == pytest.approx(5.5)


def test_what_counts_as_transient() -> None:
    assert is_transient(KafkaConnectionError("refused"))
    assert is_transient(KafkaTimeoutError())
    assert is_transient(ConnectionRefusedError())
    assert not is_transient(SaslAuthenticationFailed())
    assert not is_transient(ValueError("bad config"))


class Flaky:
    """Fails ``failures`` times with ``error``, then returns "started"."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "started"


def reconnect(
    outage: OutageLog, clock: Clock, give_up_after_s: float | None = None
) -> tuple[Reconnect, list[float]]:
    """A ``Reconnect`` whose pauses only move the fake clock, and the pauses."""
    pauses: list[float] = []

    async def sleep(s: float) -> None:
        pauses.append(s)
        clock.now += s

    backoff = Backoff(first_s=1, factor=2, max_s=8, jitter=0)
    retry = Reconnect(
        outage, backoff=backoff, give_up_after_s=give_up_after_s, sleep=sleep, clock=clock
    )
    return retry, pauses


async def test_reconnect_waits_with_backoff_until_the_broker_answers(
    outage: OutageLog, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    retry, pauses = reconnect(outage, clock)
    attempt = Flaky(7, KafkaConnectionError("Unable to bootstrap from [('127.0.0.1', 9092)]"))
    assert await retry.run(attempt, what="start the producer") == "started"
    assert attempt.calls == 8
    assert pauses == [1, 2, 4, 8, 8, 8, 8]
    assert lines(caplog) == [
        "kafka: broker 127.0.0.1:9092 unreachable, waiting (retrying with backoff)",
        "kafka: still waiting for broker after 31 s",
        "kafka: broker back after 39 s",
    ]


async def test_reconnect_raises_what_waiting_cannot_cure_at_once(
    outage: OutageLog, clock: Clock
) -> None:
    retry, pauses = reconnect(outage, clock)
    attempt = Flaky(5, SaslAuthenticationFailed("bad password"))
    with pytest.raises(SaslAuthenticationFailed):
        await retry.run(attempt, what="start the producer")
    assert attempt.calls == 1
    assert pauses == []
    assert not outage.down


async def test_reconnect_gives_up_with_a_retriable_bus_error_when_told_to(
    outage: OutageLog, clock: Clock
) -> None:
    retry, _ = reconnect(outage, clock, give_up_after_s=10)
    attempt = Flaky(100, KafkaConnectionError("refused"))
    unreachable = r"cannot join group 'g': Kafka at 127\.0\.0\.1:9092 unreachable for 15 s"
    with pytest.raises(BusError, match=unreachable) as caught:
        await retry.run(attempt, what="join group 'g'")
    assert caught.value.retriable
    assert attempt.calls == 5  # failures at 0, 1, 3, 7 and 15 s


def test_only_connection_failures_count_as_unreachable() -> None:
    # Publishing to a topic that does not exist times out waiting for metadata:
    # worth retrying at start, but the broker answered, so no outage is reported.
    assert is_unreachable(KafkaConnectionError("refused"))
    assert is_unreachable(ConnectionResetError())
    assert not is_unreachable(KafkaTimeoutError())
