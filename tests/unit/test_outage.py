"""Outages: backoff with jitter, one ERROR line when one starts and one when it ends."""

from __future__ import annotations

import asyncio
import logging

import pytest
import redis
from aiokafka import errors as kafka_errors

from gridpulse import logtriage
from gridpulse.outage import (CLIENT, KAFKA, PROBE, REDIS, UNKNOWN, Backoff, Outages, Watch,
                              dependency_of, is_outage)


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def registry(clock):
    return Outages(logging.getLogger("test.outage"), clock=clock, wall=lambda: 1_800_000_000.0 + clock.t)


def lines(caplog, level=logging.ERROR):
    return [r.getMessage() for r in caplog.records if r.name == "test.outage" and r.levelno == level]


def test_backoff_doubles_up_to_its_cap_with_jitter():
    b = Backoff(first=0.5, cap=10.0, jitter=0.5, rng=lambda: 1.0)  # the shortest draw
    assert [b.next_delay() for _ in range(7)] == [0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    b = Backoff(first=0.5, cap=10.0, jitter=0.5, rng=lambda: 0.0)  # the longest
    assert [b.next_delay() for _ in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    b.reset()
    assert b.next_delay() == 0.5 and b.failures == 1
    assert Backoff(cap=10).next_delay() <= 0.5
    for _ in range(200):  # never past the cap, however long the outage
        delay = b.next_delay()
    assert 5.0 <= delay <= 10.0


def test_backoff_default_cap_is_the_setting():
    from gridpulse.outage import configure
    before = Backoff.default_cap
    try:
        configure(2.0)
        b = Backoff(rng=lambda: 0.0)
        assert max(b.next_delay() for _ in range(10)) == 2.0
    finally:
        configure(before)


def test_one_error_line_when_it_starts_and_one_when_it_ends(registry, clock, caplog):
    caplog.set_level(logging.DEBUG, logger="test.outage")
    registry.describe(REDIS, "redis://127.0.0.1:6379/0")
    exc = redis.exceptions.TimeoutError("Timeout reading from 127.0.0.1:6379")
    cases, gps = Watch("cases batch", registry), Watch("gps batch", registry)
    for _ in range(50):  # two loops retrying for a while
        cases.failed(exc)
        gps.failed(exc)
        clock.t += 0.5
    cases.succeeded()
    assert registry.dependency(REDIS).down  # the gps loop still fails
    clock.t += 6.0
    gps.succeeded()
    errors = lines(caplog)
    assert len(errors) == 2, errors
    assert errors[0].startswith("outage: Redis at redis://127.0.0.1:6379/0 unavailable since ")
    assert "cases batch: TimeoutError: Timeout reading from 127.0.0.1:6379" in errors[0]
    assert errors[1].startswith("outage over: Redis at redis://127.0.0.1:6379/0 available again after 31.0 s")
    assert len(lines(caplog, logging.WARNING)) == 0  # 31 s: no reminder yet
    assert len(lines(caplog, logging.DEBUG)) == 99  # the other attempts
    assert not registry.dependency(REDIS).down and registry.dependency(REDIS).count == 1


def test_a_long_outage_is_recalled_once_a_minute(registry, clock, caplog):
    caplog.set_level(logging.INFO, logger="test.outage")
    w = Watch("clock tick", registry)
    for _ in range(600):  # 5 minutes of retries every half second
        w.failed(kafka_errors.KafkaTimeoutError())
        clock.t += 0.5
    w.succeeded()
    assert len(lines(caplog)) == 2
    assert len(lines(caplog, logging.WARNING)) == 4  # at 60, 120, 180, 240 s


def test_since_is_when_the_failed_attempt_began(registry, clock, caplog):
    caplog.set_level(logging.ERROR, logger="test.outage")
    began = clock.t
    clock.t += 30  # a request that waited for its timeout
    Watch("producer", registry).failed(kafka_errors.RequestTimedOutError(), at=began)
    assert registry.dependency(KAFKA).since == began


def test_each_dependency_has_its_own_outage(registry, caplog):
    caplog.set_level(logging.ERROR, logger="test.outage")
    w = Watch("pump", registry)
    w.failed(redis.exceptions.ConnectionError("refused"))
    w.failed(kafka_errors.KafkaConnectionError("refused"))
    assert registry.dependency(REDIS).down and registry.dependency(KAFKA).down
    w.succeeded()
    assert not registry.any_down()
    assert len(lines(caplog)) == 4


def test_the_probe_ends_only_its_own_part(registry, clock):
    dep = registry.dependency(KAFKA)
    dep.failed(PROBE, "no answer")
    w = Watch("cases batch", registry)
    w.failed(kafka_errors.KafkaTimeoutError())
    dep.ok(PROBE)
    assert dep.down  # the batch has not gone through yet
    w.succeeded()
    assert not dep.down
    assert dep.recently(60) and not dep.recently(0)
    clock.t += 61
    assert not dep.recently(60)


@pytest.mark.parametrize("exc, name", [
    (redis.exceptions.ConnectionError("x"), REDIS),
    (kafka_errors.KafkaTimeoutError(), KAFKA),
    (ConnectionRefusedError(), UNKNOWN),
])
def test_the_dependency_is_told_by_the_library(exc, name):
    assert dependency_of(exc) == name


def test_a_wrapped_error_names_what_it_wraps():
    try:
        try:
            raise redis.exceptions.TimeoutError("slow")
        except redis.exceptions.TimeoutError as inner:
            raise RuntimeError("flush failed") from inner
    except RuntimeError as outer:
        assert dependency_of(outer) == REDIS and is_outage(outer)


def test_until_done_logs_the_outage_not_each_attempt(caplog, monkeypatch):
    from gridpulse import outage
    from streams import retry

    reg = Outages(logging.getLogger("test.outage"))
    monkeypatch.setattr(outage, "outages", reg)
    caplog.set_level(logging.DEBUG)
    attempts = []

    async def attempt():
        attempts.append(1)
        if len(attempts) < 6:
            raise redis.exceptions.ConnectionError("Connection refused")

    async def no_sleep(_):
        return None

    monkeypatch.setattr(asyncio, "sleep", no_sleep)
    asyncio.run(retry.until_done("cases batch", attempt, Backoff(rng=lambda: 0.0)))
    assert len(attempts) == 6
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage().split(":")[0] for r in errors] == ["outage", "outage over"]


def test_until_done_raises_a_bug_at_once():
    from streams import retry

    async def attempt():
        raise KeyError("bug")

    with pytest.raises(KeyError):
        asyncio.run(retry.until_done("cases batch", attempt, Backoff()))


# -- log triage ----------------------------------------------------------------------------

def _record(name, level, msg, *args):
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


@pytest.mark.parametrize("name, msg, args, kind", [
    ("aiokafka.client", "Unable connect to node with id %s: %s", (1, OSError(113, "No route to host")), "symptom"),
    ("aiokafka.client", "Unable to update metadata from %s", ([1],), "symptom"),
    ("aiokafka.consumer.fetcher", "Failed fetch messages from %s: %s",
     (1, kafka_errors.NodeNotReadyError("not ready")), "symptom"),
    ("aiokafka.consumer.group_coordinator", "OffsetCommit failed for group %s on partition %s with offset %s: %s",
     ("g", "tp", 5, "RequestTimedOutError"), "symptom"),
    ("aiokafka.producer.sender", "Got error produce response: %s", (kafka_errors.KafkaConnectionError("x"),), "symptom"),
    ("aiokafka.consumer.group_coordinator", "OffsetCommit failed for group %s due to group error (%s), will rejoin",
     ("g", kafka_errors.UnknownMemberIdError("g")), "rejoin"),
    ("faust.transport.drivers.aiokafka", "Stream has not started processing %r (started %s).",
     ("tp", "5 minutes ago"), "stall"),
    # left alone: not a retry of an outage
    ("aiokafka.consumer.group_coordinator", "OffsetCommit failed for unauthorized topics %s", (["t"],), None),
    ("aiokafka.producer.sender", "Got error produce response: %s", (kafka_errors.MessageSizeTooLargeError(),), None),
    ("aiokafka.cluster", "Topic %s is not authorized for this client", ("t",), None),
    ("gridpulse.worker", "Unable connect to node with id %s: %s", (1, OSError()), None),
])
def test_library_lines_are_told_apart(name, msg, args, kind):
    assert logtriage.classify(_record(name, logging.ERROR, msg, *args)) == kind


def test_triage_levels(registry, clock):
    f = logtriage.TriageFilter(registry)
    logging.getLogger("faust").setLevel(logging.INFO)
    try:
        symptom = _record("aiokafka.client", logging.ERROR, "Unable to update metadata from %s", [1])
        assert f.filter(symptom) is False and symptom.levelno == logging.DEBUG
        assert registry.dependency(KAFKA).take_hints()[0] == 1
        rejoin = _record("aiokafka.consumer.group_coordinator", logging.ERROR,
                         "OffsetCommit failed before join, ignoring: %s", "x")
        assert f.filter(rejoin) is True and rejoin.levelno == logging.WARNING
        stall = "Stream stopped processing, or is slow for %r (last inbound %s)."
        real = _record("faust.transport.drivers.aiokafka", logging.ERROR, stall, "tp", "6 min ago")
        assert f.filter(real) is True and real.levelno == logging.ERROR  # nothing explains it
        registry.dependency(REDIS).failed("cases batch", "down")
        explained = _record("faust.transport.drivers.aiokafka", logging.ERROR, stall, "tp", "6 min ago")
        assert f.filter(explained) is False
        registry.dependency(REDIS).ok("cases batch")
        clock.t += logtriage.AFTER_OUTAGE_S + 1
        later = _record("faust.transport.drivers.aiokafka", logging.ERROR, stall, "tp", "6 min ago")
        assert f.filter(later) is True and later.levelno == logging.ERROR
    finally:
        logging.getLogger("faust").setLevel(logging.NOTSET)


# -- the worker's probe and stop deadline ----------------------------------------------------

def test_probe_starts_and_ends_an_outage(registry, clock, caplog):
    from streams.supervision import DependencyProbe
    caplog.set_level(logging.ERROR, logger="test.outage")
    answers = {REDIS: True}
    probe = DependencyProbe({REDIS: lambda timeout: answers[REDIS]}, registry, misses=2)
    probe.check_once()
    answers[REDIS] = False
    first_miss = clock.t
    probe.check_once()
    assert not registry.dependency(REDIS).down  # one miss is not an outage
    clock.t += 5
    probe.check_once()
    assert registry.dependency(REDIS).since == first_miss
    answers[REDIS] = True
    clock.t += 5
    probe.check_once()
    assert not registry.dependency(REDIS).down
    assert len(lines(caplog)) == 2


def test_probe_reports_clients_that_keep_failing_while_it_gets_answers(registry, clock):
    from streams.supervision import DependencyProbe
    probe = DependencyProbe({KAFKA: lambda timeout: True}, registry, hint_rounds=3)
    dep = registry.dependency(KAFKA)
    for _ in range(2):
        dep.hint("aiokafka.client: Unable connect to node with id 1: Connect call failed ('kafka-1', 9092)")
        probe.check_once()
    assert not dep.down  # a few failures at a reconnect are not an outage
    dep.hint("aiokafka.client: Unable connect to node with id 1")
    probe.check_once()
    assert dep.down and "kafka-1" in dep.first_error and CLIENT in dep.first_error
    probe.check_once()  # no more hints
    assert not dep.down


def test_stop_deadline_exits_after_the_grace_or_at_a_second_signal():
    import time

    from streams.supervision import StopDeadline
    exits = []
    d = StopDeadline(0.05, exit_code=lambda: 0, exit=exits.append)
    d.arm("SIGTERM received", signalled=True)
    d.arm("shutting down")  # the same stop going on: no effect
    deadline = time.monotonic() + 10  # a hang guard
    while not exits and time.monotonic() < deadline:
        time.sleep(0.01)
    assert exits == [0]
    d2 = StopDeadline(3600, exit_code=lambda: 1, exit=exits.append)
    d2.arm("SIGTERM received", signalled=True)
    d2.arm("SIGTERM received", signalled=True)
    assert exits == [0, 1]


def test_a_failure_while_the_worker_stops_ends_the_loop_quietly(monkeypatch):
    from streams import retry
    monkeypatch.setattr(retry, "_stopping", False)

    async def attempt():
        raise RuntimeError("Producer service not yet started")  # Faust stopped its producer

    retry.worker_stopping()
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(retry.until_done("cases batch", attempt, Backoff()))
    asyncio.run(retry.skip_outage("clock tick", attempt))  # no raise
