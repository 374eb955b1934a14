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
from gridpulse.schemas import decode_case, decode_gps
from producers.replay import REPLAYABLE

from .pipeline import (WorkerProcess, _assert_views_equal_oracle, _read_topic, env_of,
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
        want, want_alerts = _assert_views_equal_oracle(s, city, msgs, alerts=read_alerts(s))
        counters = redis_counters(s)

        # The same log again into the same topics: every case event is a duplicate (same
        # id), every fix is already known. The oracle of the log twice is the oracle of
        # the log once, and the worker must agree: nothing doubles, nothing moves.
        second = gridpulse(s, "replay", str(log), "--max")
        assert second.returncode == 0, second.stderr[-3000:]
        assert summary(second)["messages"] == len(msgs)
        wait_caught_up(s, worker)
        assert redis_counters(s) == counters
        twice, twice_alerts = _assert_views_equal_oracle(s, city, msgs + msgs, alerts=read_alerts(s))
        assert (twice, twice_alerts) == (want, want_alerts)
        assert worker.alive()
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
