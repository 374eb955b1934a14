"""Simulator -> real broker -> Faust worker -> real Redis, checked against the batch oracle."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from gridpulse.city import load_city
from gridpulse.views import LiveView
from gridpulse.schemas import decode_deadletter

from .pipeline import (TZ, _read_topic, env_of, read_alerts, WorkerProcess, _assert_views_equal_oracle, _messages, _send,  # noqa: F401
                       _send_raw, _with_duplicates_and_disorder, isolated_settings, redis_gps_counters, wait_caught_up)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def city():
    return load_city("ningbo")


def test_worker_equals_oracle_with_duplicates_and_disorder(kafka_bootstrap, redis_url, topic_prefix, city):
    s = isolated_settings(kafka_bootstrap, redis_url, topic_prefix)
    worker = WorkerProcess(s)
    try:
        # Thursday 08:00 to Friday 18:00: cases open, close, get evaluated, and on Friday
        # the partitions know Thursday's typical handling times ("likely to breach").
        msgs = _messages(city, minutes=34 * 60, cases_per_day=3000, start="2026-11-26T08:00:00")
        stages = {m.value.type for m in msgs if m.topic == "case-events"}
        assert {"reported", "returned", "closed", "evaluated"} <= stages
        asyncio.run(_send(s, _with_duplicates_and_disorder(msgs)))
        wait_caught_up(s, worker)
        want, alerts = _assert_views_equal_oracle(s, city, msgs, alerts=read_alerts(s))
        kinds = {a.kind for a in alerts.values()}
        assert {"warning", "overdue", "escalation", "resolved", "likely_breach"} <= kinds, kinds
        assert any(k.startswith("overdue|") for k in want) and any(k.startswith("ontime|") for k in want)
        gps_kinds = {a.kind for a in read_alerts(s).values() if a.case is None}
        assert {"off_grid", "silent_terminal"} <= gps_kinds, gps_kinds
        visits = sum(v for k, v in redis_gps_counters(s).items() if k.startswith(f"visits|{city.code}|"))
        assert visits > 100, visits
        assert worker.alive()
        _assert_cli_kpi_equals_view(s, "district", "330203")
    finally:
        worker.stop()


def _assert_cli_kpi_equals_view(s, level, code):
    out = subprocess.run([sys.executable, "-m", "gridpulse.cli", "kpi", "--level", level, "--code", code],
                         env=env_of(s), capture_output=True, text=True, check=True)
    got = json.loads(out.stdout)
    k = LiveView.from_url(s.redis_url, s.redis_prefix, TZ).kpis(code)
    assert {f: got[f] for f in ("open", "overdue", "new_today", "closed_today", "on_time_rate")} == {
        "open": k.open, "overdue": k.overdue, "new_today": k.new_today,
        "closed_today": k.closed_today, "on_time_rate": k.on_time_rate}
    assert got["open"] > 0 and got["score"]["kind"] == "town"
    v = got["visits"]
    assert v["visits_today"] == redis_gps_counters(s)[f"visits|{code}|{v['day']}"] > 0
    assert 0 < v["visited_30d"] <= v["households"] and v["coverage_30d"] == v["visited_30d"] / v["households"]
    bad = subprocess.run([sys.executable, "-m", "gridpulse.cli", "kpi", "--level", "town", "--code", code],
                         env=env_of(s), capture_output=True, text=True)
    assert bad.returncode != 0 and "--level" in bad.stderr


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
    ("gps-fixes", b"\xff\xfe\x00binary", "UTF-8"),
]


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
        dead = asyncio.run(_read_topic(s, "deadletter"))  # caught up: every letter is in
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
