"""Redis loses the views, or the broker comes back with another log: the worker notices
and rebuilds from Kafka by itself, and every figure ends equal to the oracle's.

Real processes throughout: the worker is a subprocess, Redis is flushed of the test's
keys while it runs (or while it is stopped), and a broker of the test's own is
restarted empty on the same port.
"""

from __future__ import annotations

import asyncio
import time

import pytest
import redis

from gridpulse.city import load_city
from gridpulse.runtime.broker import EmbeddedKafka
from gridpulse.schemas import decode_deadletter
from gridpulse.views import LiveView

from .notifying import wait_for
from .pipeline import (TZ, WorkerProcess, _assert_views_equal_oracle, _messages, _read_topic, _send,
                       _with_duplicates_and_disorder, isolated_settings, wait_caught_up)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def city():
    return load_city("ningbo")


@pytest.fixture(scope="module")
def day(city):
    """Four hours of a morning with duplicates and disorder: (original, as sent)."""
    msgs = _messages(city, minutes=4 * 60, terminals=40, cases_per_day=5000)
    return msgs, _with_duplicates_and_disorder(msgs)


def _flush(s) -> int:
    """Delete every Redis key of this deployment (what FLUSHDB does to it)."""
    r = redis.Redis.from_url(s.redis_url)
    keys = list(r.scan_iter(match=f"{s.redis_prefix}*", count=1000))
    return r.delete(*keys) if keys else 0


def _wait_state(view, state: str, worker, timeout: float = 60.0) -> None:
    """Wait until the views' freshness (from the worker's status) is ``state``."""
    deadline = time.monotonic() + timeout  # a hang guard, not a performance bound
    while (got := view.freshness()).state != state:
        assert worker.alive(), worker.log()[-3000:]
        assert time.monotonic() < deadline, got
        time.sleep(0.5)


def _board_is_the_topic(s, worker, timeout: float = 120.0) -> None:
    """The alerts board holds every alert of the alerts topic (within the days it keeps)."""
    from gridpulse.alert_views import AlertBoard
    from gridpulse.rkeys import Keys
    from .pipeline import read_alerts
    want = set(read_alerts(s))
    board = AlertBoard(redis.Redis.from_url(s.redis_url), Keys(s.redis_prefix))
    deadline = time.monotonic() + timeout  # a hang guard, not a performance bound
    while {a["id"] for a in board.latest(100_000)} != want:
        assert worker.alive(), worker.log()[-3000:]
        assert time.monotonic() < deadline, len(want)
        time.sleep(0.5)


def _no_dead_letters(s) -> None:
    dead = [decode_deadletter(r.value) for r in asyncio.run(_read_topic(s, "deadletter", 1500))]
    assert not dead, [d.reason for d in dead[:5]]  # no valid event was refused


def test_redis_flushed_mid_stream_is_rebuilt_from_the_log(kafka_bootstrap, redis_url, topic_prefix,
                                                          city, day):
    msgs, sent = day
    s = isolated_settings(kafka_bootstrap, redis_url, topic_prefix)
    half = len(sent) // 2
    worker = WorkerProcess(s)
    try:
        asyncio.run(_send(s, sent[:half]))
        wait_caught_up(s, worker)
        view = LiveView.from_url(s.redis_url, s.redis_prefix, TZ)
        _wait_state(view, "live", worker)  # the worker's own status says so
        assert _flush(s) > 0
        asyncio.run(_send(s, sent[half:]))
        wait_caught_up(s, worker)
        _assert_views_equal_oracle(s, city, msgs)
        _no_dead_letters(s)
        assert worker.alive()
        assert "records from the log" in worker.log()
        _wait_state(view, "live", worker)
        _board_is_the_topic(s, worker)  # the alerts board is back too
    finally:
        worker.stop()


def test_a_worker_restarted_on_an_empty_redis_rebuilds(kafka_bootstrap, redis_url, topic_prefix, city, day):
    msgs, sent = day
    s = isolated_settings(kafka_bootstrap, redis_url, topic_prefix)
    worker = WorkerProcess(s)
    try:
        asyncio.run(_send(s, sent))
        wait_caught_up(s, worker)
        worker.stop()
        assert _flush(s) > 0
        worker = WorkerProcess(s, "worker-again")
        # Nothing new is sent: the consumer group's committed offsets are at the end, so
        # only the worker's own check of what Redis holds can bring the views back.
        wait_caught_up(s, worker)
        _assert_views_equal_oracle(s, city, msgs)
        _no_dead_letters(s)
        _board_is_the_topic(s, worker)
    finally:
        worker.stop()


def test_a_broker_back_with_another_log_is_detected_and_the_views_follow_it(
        redis_url, topic_prefix, city):
    first = _messages(city, minutes=90, terminals=20, cases_per_day=4000, seed=21)
    second = _messages(city, minutes=60, terminals=20, cases_per_day=4000, seed=22,
                       start="2026-11-27T13:00:00")
    with EmbeddedKafka() as broker:
        s = isolated_settings(broker.bootstrap, redis_url, topic_prefix)
        worker = WorkerProcess(s)
        try:
            asyncio.run(_send(s, first))
            wait_caught_up(s, worker)
            broker.restart()  # memory storage: it comes back empty, offsets from 0
            isolated_settings(broker.bootstrap, redis_url, topic_prefix)  # its topics again
            asyncio.run(_send(s, second))
            deadline = time.monotonic() + 180  # a hang guard, not a performance bound
            while "the log is not the one" not in worker.log():
                assert worker.alive(), worker.log()[-3000:]  # it waits the broker out
                assert time.monotonic() < deadline, worker.log()[-3000:]
                time.sleep(0.5)
            wait_caught_up(s, worker)
            _assert_views_equal_oracle(s, city, second)  # the new log's figures, nothing else
            assert worker.alive()
        finally:
            worker.stop()


def test_redis_killed_for_a_while_and_back_empty(kafka_bootstrap, topic_prefix, city, day):
    """Redis crashes (the worker notices and waits, the log moves on meanwhile), then comes
    back with nothing: the worker rebuilds every view from Kafka by itself."""
    from gridpulse.runtime.redis_server import EmbeddedRedis
    msgs, sent = day
    half = len(sent) // 2
    with EmbeddedRedis() as server:
        s = isolated_settings(kafka_bootstrap, server.url, topic_prefix)
        worker = WorkerProcess(s)
        try:
            asyncio.run(_send(s, sent[:half]))
            wait_caught_up(s, worker)
            server.kill()  # what it held is gone with it
            asyncio.run(_send(s, sent[half:]))
            wait_for(lambda: "outage: Redis at" in worker.log(), worker,  # waited out, not crashed on
                     what="the worker noticing Redis gone")
            server.restart()
            wait_caught_up(s, worker)
            _assert_views_equal_oracle(s, city, msgs)
            _board_is_the_topic(s, worker)
            assert worker.alive()
        finally:
            worker.stop()


def test_archived_cases_leave_redis_and_every_figure_survives_a_reload_and_a_flush(
        kafka_bootstrap, redis_url, topic_prefix, city):
    """Three simulated days with cases archived after one: fewer case records in Redis,
    the same figures as the oracle (told the same horizon), after a worker restart
    (records plus frozen counters reloaded) and after a flush (replayed from the log)."""
    msgs = _messages(city, minutes=3 * 24 * 60, terminals=6, cases_per_day=600)
    s = isolated_settings(kafka_bootstrap, redis_url, topic_prefix, case_keep_days=1)
    from gridpulse.rkeys import Keys
    r, k = redis.Redis.from_url(s.redis_url), Keys(s.redis_prefix)

    def held() -> tuple[int, int]:
        return (sum(r.hlen(k.cases(p)) for p in range(s.partitions)),
                sum(int(v) for p in range(s.partitions) for v in r.hvals(k.frozen(p))))

    cut = len(msgs) * 9 // 10
    reported = len({m.value.case for m in msgs[:cut] if m.topic == "case-events"})
    worker = WorkerProcess(s)
    try:
        asyncio.run(_send(s, msgs[:cut]))
        wait_caught_up(s, worker)
        _assert_views_equal_oracle(s, city, msgs[:cut])
        cases, frozen = held()
        assert frozen > 0 and cases < reported * 0.85, (cases, frozen, reported)  # without: all of them
        worker.stop()
        worker = WorkerProcess(s, "worker-2")  # reloads records and frozen counters
        asyncio.run(_send(s, msgs[cut:]))
        wait_caught_up(s, worker)
        _assert_views_equal_oracle(s, city, msgs)
        before = held()
        _flush(s)  # rebuilt from the log: the same cases are archived on the way
        asyncio.run(_send(s, [m for m in msgs[cut:] if m.topic == "case-events"][:50]))  # duplicates
        wait_caught_up(s, worker)
        _assert_views_equal_oracle(s, city, msgs)
        assert held() == before
        _no_dead_letters(s)
        assert worker.alive()
    finally:
        worker.stop()
