"""Simulator -> real broker -> Faust worker -> real Redis, checked against the batch oracle."""

from __future__ import annotations

import asyncio
import random

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from gridpulse.city import load_city
from gridpulse.clock import parse_local
from gridpulse.schemas import decode_deadletter
from gridpulse.views import LiveView
from producers.kafka_out import KafkaSink
from producers.simulator import Simulator
from tests import oracle

from .pipeline import WorkerProcess, isolated_settings, wait_caught_up

pytestmark = pytest.mark.integration
TZ = "Asia/Shanghai"


@pytest.fixture(scope="module")
def city():
    return load_city("ningbo")


def _messages(city, minutes: int, terminals: int = 50, seed: int = 11, cases_per_day: int = 6000,
              start: str = "2026-11-27T08:00:00"):
    sim = Simulator(city, seed=seed, start_ms=parse_local(start, TZ), tz=TZ,
                    terminals=terminals, cases_per_day=cases_per_day)
    return sim.advance(sim.now + minutes * 60_000)


def _with_duplicates_and_disorder(msgs, seed=5):
    """Re-send 10% of the case events, and move 5% of all messages later in the stream."""
    rng = random.Random(seed)
    out = list(msgs) + [m for m in msgs if m.topic == "case-events" and rng.random() < 0.1]
    late = [i for i in range(len(out)) if rng.random() < 0.05]
    moved = [out[i] for i in late]
    keep = set(late)
    return [m for i, m in enumerate(out) if i not in keep] + moved


async def _send(s, msgs):
    sink = KafkaSink(s.replace(sim_max_events_per_s=0), s.kafka_bootstrap)
    await sink.start()
    try:
        await sink.send(msgs)
    finally:
        await sink.stop()


def _assert_views_equal_oracle(s, city, msgs):
    cases = [m.value for m in msgs if m.topic == "case-events"]
    expected = oracle.case_views(city, cases, TZ)
    view = LiveView.from_url(s.redis_url, s.redis_prefix, TZ)
    wm = view.watermark()
    gps = [m.value for m in msgs if m.topic == "gps-fixes"]
    assert wm == max(expected["watermark"], max(f.ts for b in gps for f in b.fixes))
    areas = [city.code] + [d.code for d in city.districts]
    areas += [t.code for t in city.towns] + [g.code for g in city.grids]
    got_open = view.open_by_area(areas)
    assert got_open == {a: expected["open"].get(a, 0) for a in areas}
    days = {d for (_, d) in expected["day"]}
    assert len(days) == 1
    (day,) = days
    for code in [city.code] + [d.code for d in city.districts]:
        k = view.kpis(code, minutes=120)
        assert k.open == expected["open"].get(code, 0)
        assert k.new_today == expected["day"].get((code, day), 0)
        m_now = wm // 60_000
        series = [expected["minute"].get((code, m), 0) for m in range(m_now - 119, m_now + 1)]
        assert k.per_minute == series, code
    want_pos = oracle.positions(gps)
    got_pos = {p[0]: (p[3], p[1], p[2], p[4], p[5]) for p in view.positions(active_ms=10**12)}
    assert got_pos == want_pos


def test_worker_equals_oracle_with_duplicates_and_disorder(kafka_bootstrap, redis_url, topic_prefix, city):
    s = isolated_settings(kafka_bootstrap, redis_url, topic_prefix)
    worker = WorkerProcess(s)
    try:
        msgs = _messages(city, minutes=10 * 60)  # 08:00-18:00: cases open, close, get evaluated
        stages = {m.value.type for m in msgs if m.topic == "case-events"}
        assert {"reported", "returned", "closed", "evaluated"} <= stages
        asyncio.run(_send(s, _with_duplicates_and_disorder(msgs)))
        wait_caught_up(s, worker)
        _assert_views_equal_oracle(s, city, msgs)
        assert worker.alive()
    finally:
        worker.stop()


BAD = [
    ("case-events", b"not json at all", "JSON"),
    ("case-events", b'{"v":1,"id":"x"}', "case"),
    ("case-events", b'{"v":1,"id":"e1","case":"c1","type":"reported","ts":1795741200000,"grid":"330203001001001",'
     b'"category":"sanitation","severity":9}', "severity"),
    ("case-events", b'{"v":1,"id":"e1","case":"c1","type":"reported","ts":1795741200000,'
     b'"grid":"999999999999999","category":"sanitation","severity":3}', "unknown grid"),
    ("case-events", b'{"v":2,"id":"e1","case":"c1","type":"reported","ts":1795741200000,'
     b'"grid":"330203001001001","category":"sanitation","severity":3}', "v"),
    ("gps-fixes", b'{"v":1,"id":"b1","terminal":"T1","worker":"W1","grid":"330203001001001",'
     b'"fixes":[]}', "fixes"),
    ("gps-fixes", b'{"v":1,"id":"b1","terminal":"T1","worker":"W1","grid":"330203001001001",'
     b'"fixes":[[1795741200000, 500.0, 29.8, 5.0]]}', "fixes"),
    ("gps-fixes", b"\xff\xfe\x00binary", "JSON"),
]


async def _send_raw(s, items):
    p = AIOKafkaProducer(bootstrap_servers=s.kafka_bootstrap, acks="all")
    await p.start()
    try:
        for topic, key, value in items:
            await p.send_and_wait(s.topic(topic), value, key=key)
    finally:
        await p.stop()


async def _read_dead(s, n, timeout_ms=60_000):
    c = AIOKafkaConsumer(s.topic("deadletter"), bootstrap_servers=s.kafka_bootstrap,
                         auto_offset_reset="earliest", enable_auto_commit=False)
    await c.start()
    out = []
    try:
        while len(out) < n:
            batch = await c.getmany(timeout_ms=timeout_ms)
            if not batch:
                break
            for recs in batch.values():
                out.extend(recs)
    finally:
        await c.stop()
    return out


def test_malformed_messages_go_to_the_dead_letter_topic_and_the_worker_lives(
        kafka_bootstrap, redis_url, topic_prefix, city):
    s = isolated_settings(kafka_bootstrap, redis_url, topic_prefix)
    worker = WorkerProcess(s)
    try:
        good = _messages(city, minutes=3, terminals=20, start="2026-11-27T10:00:00")
        items = [(t, b"bad-%d" % i, v) for i, (t, v, _) in enumerate(BAD)]
        asyncio.run(_send_raw(s, items))
        asyncio.run(_send(s, good))  # good messages after the bad ones still count
        wait_caught_up(s, worker)
        dead = asyncio.run(_read_dead(s, len(BAD)))
        assert len(dead) == len(BAD)
        letters = {r.key: decode_deadletter(r.value) for r in dead}
        for i, (topic, value, why) in enumerate(BAD):
            letter = letters[b"bad-%d" % i]
            assert letter.topic == s.topic(topic)
            assert letter.raw == value  # the original bytes, untouched
            assert why.lower() in letter.reason.lower(), letter.reason
        assert worker.alive()
        _assert_views_equal_oracle(s, city, good)
    finally:
        worker.stop()
