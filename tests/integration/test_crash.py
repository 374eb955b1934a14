"""Exactness under crashes: workers killed with SIGKILL mid-stream, and workers sharing partitions.

Exactly-once effects: a worker killed with SIGKILL and restarted leaves every KPI equal
to a batch recomputation (tests/oracle.py) from the same log. Each partition's projection
lives in Redis with the offset it reflects, written in a transaction fenced on that offset;
Kafka's committed offsets lag behind it, so a restarted worker re-reads records Redis
already reflects and must skip them, and must re-apply the ones it never flushed.
"""

from __future__ import annotations

import asyncio
import re
import time
from concurrent.futures import Future, ThreadPoolExecutor

import pytest
import redis
from aiokafka import AIOKafkaConsumer, TopicPartition

from gridpulse.city import load_city
from gridpulse.rkeys import Keys
from gridpulse.runtime.broker import free_port

from .pipeline import (WorkerProcess, _assert_views_equal_oracle, _messages, _send,
                       _with_duplicates_and_disorder, isolated_settings, read_alerts, wait_caught_up)

pytestmark = pytest.mark.integration
HANG_GUARD_S = 120.0  # only against a hang; never a performance bound


@pytest.fixture(scope="module")
def city():
    return load_city("ningbo")


def _log(city, hours: int):
    msgs = _messages(city, minutes=hours * 60)
    stages = {m.value.type for m in msgs if m.topic == "case-events"}
    assert {"reported", "returned", "closed", "evaluated"} <= stages
    return msgs, _with_duplicates_and_disorder(msgs)


@pytest.fixture(scope="module")
def day(city):
    """08:00-18:00 with 50 terminals and 6,000 cases/day (cases open, close, get evaluated),
    plus duplicates and disorder; the original messages (for the oracle) and what is sent."""
    return _log(city, 10)


@pytest.fixture(scope="module")
def morning(city):
    """Like ``day``, 08:00-14:00 (keeps the two-worker tests short; cases still close)."""
    return _log(city, 6)


# -- helpers -----------------------------------------------------------------------------

def applied(s) -> int:
    """Records Redis reflects, summed over the case and GPS partitions (offset + 1 each)."""
    r = redis.Redis.from_url(s.redis_url)
    keys = Keys(s.redis_prefix)
    pipe = r.pipeline(transaction=False)
    for kind in ("case", "gps"):
        for p in range(s.partitions):
            pipe.hget(keys.meta(kind, p), "offset")
    return sum(int(v) + 1 for v in pipe.execute() if v is not None)


async def _committed(s) -> int:
    c = AIOKafkaConsumer(bootstrap_servers=s.kafka_bootstrap, group_id=s.worker_id,
                         enable_auto_commit=False)
    await c.start()
    try:
        total = 0
        for name in ("case-events", "gps-fixes"):
            for p in range(s.partitions):
                off = await c.committed(TopicPartition(s.topic(name), p))
                total += off or 0
        return total
    finally:
        await c.stop()


def committed(s) -> int:
    """Records the consumer group has committed in Kafka, summed over partitions."""
    return asyncio.run(_committed(s))


def produce_in_background(pool: ThreadPoolExecutor, s, msgs) -> Future:
    """Send ``msgs`` (acks=all) from another thread; ``.result()`` re-raises its errors."""
    return pool.submit(lambda: asyncio.run(_send(s, msgs)))


def wait_applied(s, at_least: int, workers: list[WorkerProcess], producing: Future | None = None) -> int:
    """Poll Redis until it reflects ``at_least`` records; returns the count seen."""
    deadline = time.monotonic() + HANG_GUARD_S
    while True:
        n = applied(s)
        if n >= at_least:
            return n
        for w in workers:
            assert w.alive(), f"worker died:\n{w.log()[-3000:]}"
        if producing is not None and producing.done():
            producing.result()  # re-raise a producer failure
        assert time.monotonic() < deadline, f"stuck at {n} applied records (< {at_least})"
        time.sleep(0.01)


def kill_mid_stream(s, worker: WorkerProcess, at_least: int, total: int,
                    producing: Future | None) -> None:
    """SIGKILL ``worker`` once Redis reflects ``at_least`` records (and fewer than ``total``)."""
    wait_applied(s, at_least, [worker], producing)
    worker.kill()
    n = applied(s)  # nothing moves any more: this is what the dead worker left behind
    c = committed(s)
    print(f"\n  SIGKILL at {n}/{total} records applied in Redis, {c} committed in Kafka "
          f"(the next worker re-reads {n - c} already-applied records)")
    assert 0 < n < total, "the kill must land mid-stream"


_ASSIGNED = re.compile(r"Setting newly assigned partitions\s*\n(.*?)for group", re.S)


def _parse_parts(text: str) -> set[int]:
    out: set[int] = set()
    for piece in text.strip("{} ").split(","):
        piece = piece.strip()
        if "-" in piece:
            a, b = piece.split("-")
            out.update(range(int(a), int(b) + 1))
        elif piece:
            out.add(int(piece))
    return out


def case_partitions(s, worker: WorkerProcess) -> set[int] | None:
    """The case-events partitions of the worker's latest assignment (None before the first)."""
    tables = _ASSIGNED.findall(worker.log())
    if not tables:
        return None
    m = re.search(rf"\|\s*{re.escape(s.topic('case-events'))}\s*\|\s*(\{{[^}}]*\}})", tables[-1])
    return _parse_parts(m.group(1)) if m else set()


def wait_sharing(s, workers: list[WorkerProcess]) -> list[set[int]]:
    """Wait until every worker holds some case partitions and together they hold all."""
    deadline = time.monotonic() + HANG_GUARD_S
    while True:
        got = [case_partitions(s, w) for w in workers]
        if all(got) and set().union(*got) == set(range(s.partitions)) \
                and sum(len(g) for g in got) == s.partitions:
            return got
        for w in workers:
            assert w.alive(), f"worker died:\n{w.log()[-3000:]}"
        assert time.monotonic() < deadline, f"the workers never shared the partitions: {got}"
        time.sleep(0.1)


def second_worker_settings(s):
    """Same consumer group, topics and Redis keys; its own web port."""
    return s.replace(worker_web_port=free_port())


# -- tests -------------------------------------------------------------------------------

def test_sigkill_mid_stream_twice_then_restart_equals_oracle(
        kafka_bootstrap, redis_url, topic_prefix, city, day):
    msgs, sent = day
    s = isolated_settings(kafka_bootstrap, redis_url, topic_prefix)
    total = len(sent)
    a, b = int(total * 0.45), int(total * 0.75)
    workers = [WorkerProcess(s, "worker1")]
    t0 = time.monotonic()
    try:
        with ThreadPoolExecutor(1) as pool:
            producing = produce_in_background(pool, s, sent[:a])
            kill_mid_stream(s, workers[-1], int(total * 0.15), total, producing)
            workers.append(WorkerProcess(s, "worker2"))  # same consumer group
            producing.result()
            producing = produce_in_background(pool, s, sent[a:b])
            kill_mid_stream(s, workers[-1], int(total * 0.55), total, producing)
            workers.append(WorkerProcess(s, "worker3"))
            producing.result()
            asyncio.run(_send(s, sent[b:]))
        wait_caught_up(s, workers[-1])
        assert workers[-1].alive()
        print(f"  {total} records, 2 kills, caught up in {time.monotonic() - t0:.1f}s")
        _assert_views_equal_oracle(s, city, msgs, alerts=read_alerts(s))
    finally:
        for w in workers:
            w.stop()


def test_two_workers_share_the_partitions_and_equal_oracle(
        kafka_bootstrap, redis_url, topic_prefix, city, morning):
    msgs, sent = morning
    s = isolated_settings(kafka_bootstrap, redis_url, topic_prefix)
    w1 = WorkerProcess(s, "worker1")
    w2 = WorkerProcess(second_worker_settings(s), "worker2")
    t0 = time.monotonic()
    try:
        shares = wait_sharing(s, [w1, w2])
        print(f"\n  case partitions: worker1 {sorted(shares[0])}, worker2 {sorted(shares[1])}")
        asyncio.run(_send(s, sent))
        wait_caught_up(s, w1)
        assert w1.alive() and w2.alive()
        print(f"  {len(sent)} records over two workers in {time.monotonic() - t0:.1f}s")
        _assert_views_equal_oracle(s, city, msgs, alerts=read_alerts(s))
    finally:
        w1.stop()
        w2.stop()


def test_sigkill_one_of_two_workers_the_other_takes_over(
        kafka_bootstrap, redis_url, topic_prefix, city, morning):
    msgs, sent = morning
    s = isolated_settings(kafka_bootstrap, redis_url, topic_prefix)
    total = len(sent)
    half = total // 2
    w1 = WorkerProcess(s, "worker1")
    w2 = WorkerProcess(second_worker_settings(s), "worker2")
    t0 = time.monotonic()
    try:
        shares = wait_sharing(s, [w1, w2])
        print(f"\n  case partitions: worker1 {sorted(shares[0])}, worker2 {sorted(shares[1])}")
        with ThreadPoolExecutor(1) as pool:
            producing = produce_in_background(pool, s, sent[:half])
            wait_applied(s, int(total * 0.25), [w1, w2], producing)
            kill_mid_stream(s, w1, 0, total, producing)
            producing.result()
        asyncio.run(_send(s, sent[half:]))
        wait_caught_up(s, w2)
        assert w2.alive()
        assert case_partitions(s, w2) == set(range(s.partitions))  # it took over them all
        print(f"  {total} records, one of two killed, caught up in {time.monotonic() - t0:.1f}s")
        _assert_views_equal_oracle(s, city, msgs, alerts=read_alerts(s))
    finally:
        w1.stop()
        w2.stop()


def test_a_second_worker_joining_mid_stream_takes_partitions_over(
        kafka_bootstrap, redis_url, topic_prefix, city, morning):
    """The first worker loses partitions while it holds their messages in its queue:
    the rebalance must neither lose nor double anything."""
    msgs, sent = morning
    s = isolated_settings(kafka_bootstrap, redis_url, topic_prefix)
    total = len(sent)
    w1 = WorkerProcess(s, "worker1")
    workers = [w1]
    try:
        with ThreadPoolExecutor(1) as pool:
            producing = produce_in_background(pool, s, sent[: total // 2])
            wait_applied(s, total // 8, workers, producing)
            workers.append(WorkerProcess(second_worker_settings(s), "worker2"))
            producing.result()
            asyncio.run(_send(s, sent[total // 2:]))
        shares = wait_sharing(s, workers)
        print(f"\n  after the join: worker1 {sorted(shares[0])}, worker2 {sorted(shares[1])}")
        wait_caught_up(s, w1)
        assert all(w.alive() for w in workers)
        _assert_views_equal_oracle(s, city, msgs, alerts=read_alerts(s))
    finally:
        for w in workers:
            w.stop()
