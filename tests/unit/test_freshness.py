"""The freshness judgement (gridpulse/freshness.py): each state from the partitions' last
writes and the workers' entries, as a table."""

from __future__ import annotations

import json

import pytest

from gridpulse.clock import parse_local
from gridpulse.freshness import (Limits, Written, clock_text, judge, parse_worker, unreachable)

NOW = 1_800_000_000_000
S = 1000
LIMITS = Limits(behind_records=5000, behind_after_s=10, stale_after_s=60)


def w(kind="case", p=0, ago_s=1.0, wm=1):
    """A partition written ``ago_s`` seconds before NOW (None: no ``at``)."""
    return Written(kind, p, None if ago_s is None else NOW - int(ago_s * S), wm)


def worker(ago_s=1.0, case=(0, 1), gps=(0,), lag=(0, 0), rebuilding=(), waiting=None, wid="h:1"):
    """A worker entry written ``ago_s`` seconds before NOW, as a worker writes it (JSON)."""
    doc = {"at": NOW - int(ago_s * S), "case": list(case), "gps": list(gps),
           "lag": {"case": lag[0], "gps": lag[1]},
           "rebuilding": [{"kind": k, "partition": p, "done": d, "since": NOW - 5 * S}
                          for k, p, d in rebuilding],
           "waiting": waiting}
    got = parse_worker(wid, json.dumps(doc))
    assert got is not None
    return got


ALL = [w("case", 0), w("case", 1), w("gps", 0)]

# (name, written, workers, state, checks on the rest)
TABLE = [
    ("a worker, nothing waiting", ALL, [worker()], "live", {"lag": {"case": 0, "gps": 0}}),
    ("quiet for an hour, nothing waiting: still live",
     [w("case", 0, 3600), w("gps", 0, 3600)], [worker(case=(0,))], "live", {"age_s": 3600.0}),
    ("a few records waiting, written just now", ALL, [worker(lag=(40, 3))], "live",
     {"lag": {"case": 40, "gps": 3}}),
    ("more records waiting than the limit", ALL, [worker(lag=(4000, 1500))], "behind",
     {"lag": {"case": 4000, "gps": 1500}}),
    ("records waiting, nothing written for 20 s", [w("case", 0, 21), w("case", 1, 21), w("gps", 0, 21)],
     [worker(ago_s=1, lag=(5, 0))], "behind", {"behind_s": 20.0}),
    ("records counted just before a write: the write answered them",
     [w("case", 0, 0.5), w("case", 1, 300)], [worker(ago_s=1.5, case=(0, 1), lag=(1, 0))], "live", {}),
    ("records waiting, nothing written for 2 min", [w("case", 0, 121), w("case", 1, 125)],
     [worker(ago_s=1, lag=(12, 0))], "stale",
     {"reason": "no_write", "since": NOW - 121 * S, "behind_s": 120.0}),
    ("one worker stuck among two: since its own last write",
     [w("case", 0, 200), w("case", 1, 0.2)],
     [worker(case=(0,), gps=(), lag=(9, 0), wid="a:1"), worker(case=(1,), gps=(0,), wid="b:2")],
     "stale", {"since": NOW - 200 * S, "workers": 2}),
    ("no worker entry at all", ALL, [], "stale", {"reason": "no_worker", "since": NOW - 1 * S,
                                                  "lag": None}),
    ("the only worker's entry is 61 s old: dead", ALL, [worker(ago_s=61)], "stale",
     {"reason": "no_worker", "workers": 0}),
    ("a dead worker beside a live one", ALL, [worker(ago_s=90, wid="old:1"), worker(wid="new:2")],
     "live", {"workers": 1}),
    ("the worker waits for Kafka", ALL, [worker(waiting="kafka")], "stale",
     {"reason": "waiting_kafka", "since": NOW - 1 * S}),
    ("the worker waits for Redis", ALL, [worker(waiting="redis")], "stale", {"reason": "waiting_redis"}),
    ("nothing in Redis, no worker", [], [], "empty", {"missing": ("case", "gps"), "data_at": None}),
    ("nothing in Redis, a worker with nothing to do", [], [worker()], "empty", {"missing": ("case", "gps")}),
    ("rebuilding after a flush: nothing whole to read",
     [], [worker(rebuilding=[("case", 0, 0.5), ("case", 1, 0.25), ("gps", 0, 0.0)])], "rebuilding",
     {"missing": ("case", "gps"), "rebuilding_done": 0.25}),
    ("rebuilding one partition of two: its kind is partial",
     [w("case", 1), w("gps", 0)], [worker(rebuilding=[("case", 0, 0.8)])], "rebuilding",
     {"missing": ("case",), "rebuilding_done": 0.8}),
    ("rebuilding a partition that still has its projection: readable",
     ALL, [worker(rebuilding=[("gps", 0, 0.4)])], "rebuilding", {"missing": ()}),
    ("two workers report one partition mid-rebalance: counted once, at its furthest",
     ALL, [worker(rebuilding=[("case", 0, 0.2)], wid="a:1"), worker(rebuilding=[("case", 0, 0.6)], wid="b:2")],
     "rebuilding", {"rebuilding_done": 0.6}),
    ("a dead worker's rebuild is not a rebuild", ALL,
     [worker(ago_s=70, rebuilding=[("case", 0, 0.1)]), worker(wid="b:2")], "live", {}),
    ("only case projections: visits are missing", [w("case", 0)], [worker()], "live", {"missing": ("gps",)}),
    ("a writer without `at`: no age, judged on lag", [w("case", 0, None)], [worker(lag=(10, 0))], "live",
     {"data_at": None, "age_s": None}),
    ("a writer without `at` and a large lag", [w("case", 0, None)], [worker(lag=(6000, 0))], "behind", {}),
]


@pytest.mark.parametrize("name, written, workers, state, checks", TABLE, ids=[t[0] for t in TABLE])
def test_judgement(name, written, workers, state, checks):
    got = judge(NOW, written, workers, LIMITS)
    assert got.state == state, got
    for key, want in checks.items():
        have = got.rebuilding["done"] if key == "rebuilding_done" else getattr(got, key)
        assert have == want, (key, got)


def test_age_is_of_the_newest_write():
    got = judge(NOW, [w("case", 0, 30), w("gps", 0, 4.25)], [worker()], LIMITS)
    assert (got.data_at, got.age_s) == (NOW - 4250, 4.2)


def test_the_limits_are_the_settings():
    written = [w("case", 0, 15)]
    lagging = [worker(lag=(3, 0))]
    assert judge(NOW, written, lagging, Limits(5000, 20, 60)).state == "live"
    assert judge(NOW, written, lagging, Limits(5000, 10, 60)).state == "behind"
    assert judge(NOW, written, lagging, Limits(5000, 5, 12)).state == "stale"
    assert judge(NOW, [w()], [worker(lag=(2, 0))], Limits(behind_records=1)).state == "behind"


def test_rebuilding_lists_its_partitions():
    got = judge(NOW, ALL, [worker(rebuilding=[("gps", 0, 1.5), ("case", 1, -0.2)])], LIMITS)
    assert got.rebuilding == {"done": 0.5, "partitions": [
        {"kind": "case", "partition": 1, "done": 0.0, "since": NOW - 5 * S},
        {"kind": "gps", "partition": 0, "done": 1.0, "since": NOW - 5 * S}]}


def test_as_dict_is_json():
    doc = judge(NOW, ALL, [worker(lag=(7, 1))], LIMITS).as_dict()
    assert json.loads(json.dumps(doc)) == doc
    assert set(doc) == {"state", "data_at", "age_s", "lag", "behind_s", "rebuilding", "since",
                        "reason", "missing", "workers"}
    assert unreachable().as_dict()["state"] == "unreachable" and unreachable().missing == ("case", "gps")


@pytest.mark.parametrize("raw", [b"", b"{", b"[]", b'{"case": [0]}', b'{"at": "soon"}',
                                 b'{"at": 1, "rebuilding": [{"kind": "case"}]}', b"\xff\xfe"])
def test_an_unreadable_entry_is_left_out(raw):
    assert parse_worker("h:1", raw) is None


def test_an_entry_with_more_fields_or_unknown_lag_is_read():
    got = parse_worker("h:9", b'{"at": 5, "lag": {"case": null, "gps": 4}, "version": 2}')
    assert got is not None and (got.id, got.lag_of("case"), got.lag_of("gps"), got.waiting) == ("h:9", 0, 4, None)


def test_clock_text_in_the_citys_zone():
    tz = "Asia/Shanghai"
    now = parse_local("2026-11-27T15:00:00", tz)
    assert clock_text(parse_local("2026-11-27T00:05:00", tz), now, tz) == "00:05"
    assert clock_text(parse_local("2026-11-26T23:55:00", tz), now, tz) == "11-26 23:55"
    assert clock_text(None, now, tz) is None
