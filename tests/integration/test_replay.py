"""`gridpulse replay`: a recorded event log, published again, gives the oracle's views.

The workflow the README documents: record with ``gridpulse simulate --out log.jsonl
--no-kafka --max``, replay with ``gridpulse replay log.jsonl --max`` into fresh topics
with a worker running, and compare every figure with a batch recomputation of the file.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import msgspec
import pytest

from gridpulse.city import load_city
from gridpulse.clock import parse_local
from gridpulse.loop.facts import Rules
from gridpulse.schemas import CaseEvent, decode_case, decode_gps
from producers.replay import REPLAYABLE
from producers.simulator import Message
from tests import oracle

from .pipeline import (WorkerProcess, _assert_views_equal_oracle, _read_topic, _send, env_of,
                       isolated_settings, read_alerts, redis_counters, wait_caught_up)

pytestmark = pytest.mark.integration
HANG_GUARD_S = 120.0  # only against a hang; never a performance bound
START, UNTIL = "2026-11-27T08:00:00", "2026-11-27T18:00:00"


@pytest.fixture(scope="module")
def city():
    return load_city("ningbo")


def gridpulse(s, *args: str, timeout: float = HANG_GUARD_S) -> subprocess.CompletedProcess:
    """Run the ``gridpulse`` command with settings ``s``."""
    return subprocess.run([sys.executable, "-m", "gridpulse.cli", *args], env=env_of(s),
                          capture_output=True, text=True, timeout=timeout)


def summary(proc: subprocess.CompletedProcess) -> dict:
    """The JSON summary a command printed last."""
    return json.loads(proc.stdout.strip().splitlines()[-1])


def read_log(path: Path) -> list[SimpleNamespace]:
    """The messages of an event log, values decoded with the wire structs (for the oracle)."""
    dec = {"case-events": decode_case, "gps-fixes": decode_gps}
    out = []
    for raw in path.read_bytes().splitlines():
        line = msgspec.json.decode(raw)
        value = dec[line["topic"]](msgspec.json.encode(line["value"]))
        out.append(SimpleNamespace(topic=line["topic"], key=line["key"], value=value))
    return out


def test_replayed_log_equals_oracle_and_a_second_replay_changes_nothing(
        kafka_bootstrap, redis_url, topic_prefix, city, tmp_path):
    s = isolated_settings(kafka_bootstrap, redis_url, topic_prefix,
                          sim_terminals=50, sim_cases_per_day=6000, sim_seed=11)
    log = tmp_path / "day.jsonl"
    rec = gridpulse(s, "simulate", "--start", START, "--until", UNTIL, "--out", str(log),
                    "--no-kafka", "--max")
    assert rec.returncode == 0, rec.stderr[-3000:]
    msgs = read_log(log)
    stages = {m.value.type for m in msgs if m.topic == "case-events"}
    assert {"reported", "returned", "closed", "evaluated"} <= stages
    assert summary(rec)["messages"] == len(msgs)

    worker = WorkerProcess(s)
    try:
        first = gridpulse(s, "replay", str(log), "--max")
        assert first.returncode == 0, first.stderr[-3000:]
        got = summary(first)
        assert got["messages"] == len(msgs) and got["bad_lines"] == 0
        assert got["topics"] == {s.topic(t): sum(m.topic == t for m in msgs) for t in REPLAYABLE}
        times = [m.value.ts if m.topic == "case-events" else m.value.fixes[-1].ts for m in msgs]
        assert (got["first_event"], got["last_event"]) == (min(times), max(times))
        wait_caught_up(s, worker)
        alerts = read_alerts(s)
        counters = redis_counters(s)
        rules = Rules.load(s.sla_file, s.holidays_file, s.timezone)
        lateness = int(s.allowed_lateness_s * 1000)
        once = oracle.case_views(city, [m.value for m in msgs if m.topic == "case-events"],
                                 rules, s.partitions, lateness)

        # The same log again into the same topics: every case event is a duplicate (same
        # id), every fix is already known. The oracle of the log twice is the oracle of
        # the log once, and the worker must agree: nothing doubles, nothing moves.
        second = gridpulse(s, "replay", str(log), "--max")
        assert second.returncode == 0, second.stderr[-3000:]
        assert summary(second)["messages"] == len(msgs)
        wait_caught_up(s, worker)
        assert redis_counters(s) == counters
        twice = oracle.case_views(city, [m.value for m in msgs + msgs if m.topic == "case-events"],
                                  rules, s.partitions, lateness)
        assert twice == once
        assert read_alerts(s) == alerts  # the second replay raised no alert the first did not
        assert worker.alive()
        _assert_views_equal_oracle(s, city, msgs, alerts=alerts)
    finally:
        worker.stop()


def test_a_wait_after_a_return_keeps_its_alerts(kafka_bootstrap, redis_url, topic_prefix, city):
    """A case returned by its department waits past its re-dispatch warning, then is
    dispatched again: the warning happened, live and in the log, so the worker's alerts
    and the batch recomputation of the same log must both hold it (deterministic
    reproduction of the bug the large replay and crash tests hit at random)."""
    s = isolated_settings(kafka_bootstrap, redis_url, topic_prefix)
    rules = Rules.load(s.sla_file, s.holidays_file, s.timezone)
    lateness = int(s.allowed_lateness_s * 1000)
    grid, cat, dept = city.grids[0].code, "food_drug", "market"
    t0 = parse_local("2026-11-27T14:00:00", s.timezone)
    case = "RET-1"
    p = oracle.partition_of(case, s.partitions)
    other = next(c for c in (f"CLK-{i}" for i in range(1000)) if oracle.partition_of(c, s.partitions) == p)

    def ev(cid, n, kind, ts, **kw):
        e = CaseEvent(id=f"{cid}.{n}", case=cid, type=kind, ts=ts, grid=grid, category=cat,
                      severity=1, **kw)
        return Message(ts, "case-events", cid, e)

    returned = t0 + 10 * 60_000
    clock = rules.policy.clock("dispatch", cat, 1, returned, rules.calendar)
    tick = clock.warn_at + lateness + 30_000  # the watermark passes the warning for good
    before = [ev(case, 0, "reported", t0), ev(case, 1, "registered", t0 + 60_000),
              ev(case, 2, "dispatched", t0 + 120_000, dept=dept),
              ev(case, 3, "returned", returned, dept=dept, reason="not ours"),
              ev(other, 0, "reported", tick)]
    after = [ev(case, 4, "dispatched", tick + 1000, dept="other-dept")]
    worker = WorkerProcess(s)
    try:
        asyncio.run(_send(s, before))
        wait_caught_up(s, worker)
        asyncio.run(_send(s, after))
        wait_caught_up(s, worker)
        warning = f"{case}:dispatch:{returned}:warning"
        got = read_alerts(s)
        assert warning in got  # the worker saw it happen
        _, want_alerts = _assert_views_equal_oracle(s, city, before + after)  # every counter agrees
        assert set(got) == set(want_alerts)  # ... but the oracle has lost the warning
    finally:
        worker.stop()


CASE = (b'{"v":1,"id":"e1","case":"c1","type":"reported","ts":1795741200000,'
        b'"grid":"330203001001001","category":"sanitation","severity":3}')
GPS = (b'{"v":1,"id":"T1-1795741201000","terminal":"T1","worker":"W1","grid":"330203001001001",'
       b'"fixes":[[1795741201000,121.55,29.87,5.0],[1795741202500,121.5501,29.8701,4.0]]}')


def test_replay_sends_values_byte_for_byte_and_skips_bad_lines(
        kafka_bootstrap, redis_url, topic_prefix, tmp_path):
    s = isolated_settings(kafka_bootstrap, redis_url, topic_prefix)
    log = tmp_path / "mixed.jsonl"
    lines = [
        b'{"topic":"case-events","key":"c1","value":' + CASE + b'}',
        b'not json at all',
        b'{"topic":"alerts","key":"a1","value":{"v":1}}',
        b'',  # blank lines are not errors
        b'{"topic":"gps-fixes","key":"T1","value":' + GPS + b'}',
        b'{"topic":"case-events","value":{}}',  # no key
        # A value the worker will dead-letter is still a fact of the log: sent as it is.
        b'{"topic":"case-events","key":"c2","value":{"v":1,"id":"x"}}',
    ]
    log.write_bytes(b"\n".join(lines) + b"\n")
    proc = gridpulse(s, "replay", str(log), "--speed", "1000")
    assert proc.returncode == 0, proc.stderr
    got = summary(proc)
    assert got["messages"] == 3 and got["bad_lines"] == 3
    assert got["bad_line_numbers"] == [2, 3, 6]
    assert got["without_event_time"] == 1
    assert (got["first_event"], got["last_event"]) == (1795741200000, 1795741202500)
    for n in (2, 3, 6):
        assert f"{log}:{n}: skipped" in proc.stderr
    assert "unknown topic 'alerts'" in proc.stderr

    cases = asyncio.run(_read_topic(s, "case-events"))
    gps = asyncio.run(_read_topic(s, "gps-fixes"))
    assert sorted((r.key, r.value) for r in cases) == [(b"c1", CASE), (b"c2", b'{"v":1,"id":"x"}')]
    assert [(r.key, r.value) for r in gps] == [(b"T1", GPS)]
    assert {r.timestamp for r in cases if r.key == b"c1"} == {1795741200000}

    only_bad = tmp_path / "bad.jsonl"
    only_bad.write_bytes(b'{"topic":"nope","key":"k","value":{}}\n{oops\n')
    proc = gridpulse(s, "replay", str(only_bad), "--max")
    assert proc.returncode != 0
    assert summary(proc)["messages"] == 0
    assert f"{only_bad}:1: skipped" in proc.stderr and f"{only_bad}:2: skipped" in proc.stderr


def test_a_case_dispatched_twice_to_one_department_counts_like_the_oracle(
        kafka_bootstrap, redis_url, topic_prefix, city):
    """Returned, then dispatched again to the same department the same day: the worker's
    counters must equal the batch recomputation. (Regression: its disp| key appeared twice
    in the case's contribution, which the worker's set-difference update counted once;
    fixed in 1726c58 by making the keys unique per case.)"""
    s = isolated_settings(kafka_bootstrap, redis_url, topic_prefix)
    grid, cat, dept = city.grids[0].code, "food_drug", "market"
    t0 = parse_local("2026-11-27T10:00:00", s.timezone)
    msgs = [Message(t0 + i * 60_000, "case-events", "DUP-1", CaseEvent(
        id=f"DUP-1.{i}", case="DUP-1", type=kind, ts=t0 + i * 60_000, grid=grid, category=cat,
        severity=2, **kw)) for i, (kind, kw) in enumerate([
            ("reported", {}), ("registered", {}), ("dispatched", {"dept": dept}),
            ("returned", {"dept": dept, "reason": "not ours"}), ("dispatched", {"dept": dept})])]
    worker = WorkerProcess(s)
    try:
        asyncio.run(_send(s, msgs))
        wait_caught_up(s, worker)
        _assert_views_equal_oracle(s, city, msgs)
    finally:
        worker.stop()
