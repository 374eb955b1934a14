"""Hostile and broken records on every topic the worker reads: each is dead-lettered with
a reason a person can read, the worker lives, and every figure stays the oracle's.

Sent with a real Kafka client to the embedded broker, each bad record followed by a
valid one, so "a valid event sent afterwards is counted" is checked for every one of
them. The reasons' wording is the contract's (docs/contract.md, ``deadletter``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys
import time

import msgspec
import pytest
import redis
from aiokafka import AIOKafkaProducer

from gridpulse.alert_views import AlertBoard
from gridpulse.city import load_city
from gridpulse.clock import local_day
from gridpulse.rkeys import Keys
from gridpulse.schemas import (DEAD_RAW_MAX, Alert, AlertAck, CaseEvent, GpsBatch, decode_deadletter,
                               encode)
from gridpulse.views import LiveView
from producers.simulator import Message

from .pipeline import (TZ, WorkerProcess, _assert_views_equal_oracle, _read_topic, env_of,
                       isolated_settings, redis_counters, wait_caught_up)

pytestmark = pytest.mark.integration

T0 = 1_795_750_200_000  # 2026-11-27 10:50 in Ningbo
DAY = 86_400_000
LIN = dict(grid="330203001001003", community="330203001001", town="330203001", district="330203",
           city="330200")
GRID = LIN["grid"]
CASE_OK = dict(type="reported", grid=GRID, category="sanitation", severity=3)


def _case(i: int, **kw) -> dict:
    return {"v": 1, "id": f"pz-{i}.0", "case": f"PZ-{i}", "ts": T0 + i * 1000, **CASE_OK, **kw}


def _gps(i: int, lon: float, lat: float, **kw) -> dict:
    return {"v": 1, "id": f"TP{i:03d}-{T0}", "terminal": f"TP{i:03d}", "worker": f"WP{i:03d}",
            "grid": GRID, "fixes": [[T0 + i * 1000, lon, lat, 5.0]], **kw}


def _alert(i: int, **kw) -> dict:
    return {"v": 1, "id": f"PZ-{i}:handle:{T0}:overdue", "kind": "overdue", "ts": T0, "case": f"PZ-{i}",
            "stage": "handled", "deadline": T0, **LIN, "dept": "sanitation", "severity": 3,
            "category": "sanitation"}


def _ack(i: int, **kw) -> dict:
    return {"v": 1, "id": f"ack-pz-{i}", "alert": _alert(1)["id"], "by": "李明", "at": T0, **kw}


def _json(d: dict) -> bytes:
    return msgspec.json.encode(d)


def _wrong_types(struct, good: dict) -> list[tuple[str, bytes, str]]:
    """A value with a wrong type in each field of ``struct`` (an object where nothing takes one)."""
    out = []
    for f in msgspec.structs.fields(struct):
        for wrong in ({"wrong": True}, [1, 2]):
            out.append((f"wrong type in {f.name}", _json({**good, f.name: wrong}), f"$.{f.name}"))
    return out


def _common(good: dict) -> list[tuple[str, bytes | None, str]]:
    """Bad values every topic must survive: (name, value, what the reason must say)."""
    text = _json(good)
    return [
        ("not JSON", b"not json at all", "not JSON"),
        ("invalid UTF-8", text.replace(b'"id":"', b'"id":"\xc3\x28', 1), "not UTF-8"),
        ("invalid UTF-8 in a key", b'{"\xff":1}', "not UTF-8"),
        ("NUL byte", text[:10] + b"\x00" + text[10:], "not JSON"),
        ("5 MB", b'{"v":1,"id":"' + b"x" * 5_000_000 + b'"}', "$.id"),
        ("800 KB", b'{"v":1,"id":"' + b"x" * 800_000 + b'"}', "$.id"),
        ("deeply nested", b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "nested too deeply"),
        ("deeply nested array", b'{"v":1,"id":' + b"[" * 50_000 + b"]" * 50_000 + b"}", "$.id"),
        ("unknown version", _json({**good, "v": 2}), "$.v"),
        ("empty value", b"", "empty value"),
        ("tombstone", None, "null value"),
        ("a JSON array", b"[1,2,3]", "Expected `object`"),
        ("huge number", text.replace(b'"v":1', b'"v":1e400', 1), "$.v"),
    ]


def _bad_records(city) -> dict[str, list[tuple[str, bytes, bytes | None, str, dict]]]:
    """Per logical topic: (name, key, value, reason fragment, send options)."""
    lon, lat = city.grid(GRID).centroid
    ck, gk, ak = b"PZ-bad", GRID.encode(), _alert(1)["id"].encode()
    case_good, gps_good, alert_good, ack_good = _case(0), _gps(0, lon, lat), _alert(0), _ack(0)
    later = {"timestamp_ms": T0}  # received at T0, dated a day later: a wrong terminal clock
    out = {
        "case-events": [(n, ck, v, why, {}) for n, v, why in _common(case_good)] + [
            (n, ck, v, why, {}) for n, v, why in _wrong_types(CaseEvent, case_good)] + [
            ("number out of range", ck, _json({**case_good, "severity": 9}), "$.severity", {}),
            ("ts out of range", ck, _json({**case_good, "ts": 10**30}), "$.ts", {}),
            ("unknown category", ck, _json({**case_good, "case": "PZ-bad", "category": "aliens"}),
             "$.category", {}),
            ("unknown department", ck, _json({**case_good, "case": "PZ-bad", "dept": "nasa"}), "$.dept", {}),
            ("unknown grid", ck, _json({**case_good, "case": "PZ-bad", "grid": "330203999999999"}),
             "unknown grid", {}),
            ("key not UTF-8", b"\xff\xfe", _json(case_good), "key", {}),
            ("key not the case", b"PZ-other", _json(case_good), "key", {}),
            ("clock ahead", ck, _json({**case_good, "case": "PZ-bad", "ts": T0 + DAY}), "clock ahead", later),
        ],
        "gps-fixes": [(n, gk, v, why, {}) for n, v, why in _common(gps_good)] + [
            (n, gk, v, why, {}) for n, v, why in _wrong_types(GpsBatch, gps_good)] + [
            ("fix of the wrong shape", gk, _json({**gps_good, "fixes": [[T0, lon, lat]]}), "$.fixes", {}),
            ("fix with a string time", gk, _json({**gps_good, "fixes": [["x", lon, lat, 5]]}), "$.fixes", {}),
            ("number out of range", gk, _json({**gps_good, "fixes": [[T0, 500.0, lat, 5.0]]}), "$.fixes", {}),
            ("too many fixes", gk, _json({**gps_good, "fixes": [[T0, lon, lat, 5.0]] * 1001}), "$.fixes", {}),
            ("unknown grid", b"330203999999999", _json({**gps_good, "grid": "330203999999999"}),
             "unknown grid", {}),
            ("key not UTF-8", b"\xff\xfe", _json(gps_good), "key", {}),
            ("clock ahead", gk, _json({**gps_good, "fixes": [[T0 + DAY, lon, lat, 5.0]]}), "clock ahead",
             later),
        ],
        "alerts": [(n, ak, v, why, {}) for n, v, why in _common(alert_good)] + [
            (n, ak, v, why, {}) for n, v, why in _wrong_types(Alert, alert_good)] + [
            ("number out of range", ak, _json({**alert_good, "ts": -1}), "$.ts", {}),
            ("unknown kind", ak, _json({**alert_good, "kind": "panic"}), "$.kind", {}),
            ("key not UTF-8", b"\xff\xfe", _json(alert_good), "key", {}),
        ],
        "alert-acks": [(n, ak, v, why, {}) for n, v, why in _common(ack_good)] + [
            (n, ak, v, why, {}) for n, v, why in _wrong_types(AlertAck, ack_good)] + [
            ("number out of range", ak, _json({**ack_good, "at": 10**20}), "$.at", {}),
            ("name too long", ak, _json({**ack_good, "by": "x" * 65}), "$.by", {}),
            ("key not UTF-8", b"\xff\xfe", _json(ack_good), "key", {}),
        ],
    }
    return out


def _good(topic: str, i: int, city) -> tuple[bytes, bytes]:
    lon, lat = city.grid(GRID).centroid
    if topic == "case-events":
        return f"PZ-{i}".encode(), _json(_case(i))
    if topic == "gps-fixes":
        return GRID.encode(), _json(_gps(i, lon, lat))
    if topic == "alerts":
        return _alert(i)["id"].encode(), _json(_alert(i))
    return _alert(1)["id"].encode(), _json(_ack(i))


async def _send_all(s, items) -> list:
    """Send ``(topic, key, value, options)`` one by one; the broker's (partition, offset) of each."""
    p = AIOKafkaProducer(bootstrap_servers=s.kafka_bootstrap, acks="all", max_request_size=16 << 20)
    await p.start()
    try:
        out = []
        for topic, key, value, opts in items:
            md = await p.send_and_wait(s.topic(topic), value, key=key, **opts)
            out.append((md.partition, md.offset))
        return out
    finally:
        await p.stop()


def _wait(pred, worker, what: str, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout  # a hang guard, not a performance bound
    while not pred():
        assert worker.alive(), worker.log()[-3000:]
        assert time.monotonic() < deadline, f"{what}\n{worker.log()[-3000:]}"
        time.sleep(0.3)


@pytest.fixture(scope="module")
def city():
    return load_city("ningbo")


def test_every_bad_record_is_dead_lettered_and_every_figure_stays_exact(
        kafka_bootstrap, redis_url, topic_prefix, city):
    s = isolated_settings(kafka_bootstrap, redis_url, topic_prefix)
    bad = _bad_records(city)
    items, expect, goods = [], [], {t: 0 for t in bad}
    for topic, recs in bad.items():
        for name, key, value, why, opts in recs:
            items.append((topic, key, value, opts))
            expect.append((topic, name, value, why))
            goods[topic] += 1
            items.append((topic, *_good(topic, goods[topic], city), {}))
            expect.append(None)
    # A rule-breaking event dated after everything else (its record stamped at the same
    # time, so the clock check passes): it waits for the lateness and must not move "now".
    rule = _case(9999, type="handled", dept="sanitation", ts=T0 + 3 * 3_600_000)
    items.append(("case-events", b"PZ-9999", _json(rule), {"timestamp_ms": rule["ts"]}))
    expect.append(None)

    worker = WorkerProcess(s)
    try:
        placed = asyncio.run(_send_all(s, items))
        wait_caught_up(s, worker)
        board = AlertBoard(redis.Redis.from_url(redis_url), Keys(s.redis_prefix))
        _wait(lambda: len(board.latest(500)) == goods["alerts"], worker, "alerts on the board")
        _wait(lambda: len((board.get(_alert(1)["id"]) or {"acks": ()})["acks"]) == goods["alert-acks"], worker,
              "acknowledgements on the board")
        n_bad = sum(e is not None for e in expect)
        _wait(lambda: len(asyncio.run(_read_topic(s, "deadletter", 1500))) >= n_bad, worker,
              "dead letters")
        assert worker.alive()

        letters = {}
        for r in asyncio.run(_read_topic(s, "deadletter")):
            d = decode_deadletter(r.value)
            letters.setdefault((d.topic, d.partition, d.offset), d)  # a retry may repeat one
        assert len(letters) == n_bad, sorted(letters)[:10]
        for e, (p, off) in zip(expect, placed):
            if e is None:
                continue
            topic, name, value, why = e
            d = letters.get((s.topic(topic), p, off))
            assert d is not None, f"{topic}: {name} was not dead-lettered"
            assert why.lower() in d.reason.lower(), (topic, name, d.reason)
            whole = value or b""
            assert (d.raw, d.size, d.truncated) == (whole[:DEAD_RAW_MAX], len(whole), len(whole) > DEAD_RAW_MAX)
            assert d.sha256 == hashlib.sha256(whole).hexdigest(), (topic, name)
        r = redis.Redis.from_url(redis_url)
        assert r.zcard(Keys(s.redis_prefix).deadletters()) == n_bad  # the wall's count

        # Every valid record after a bad one counted, and every figure the oracle's.
        lon, lat = city.grid(GRID).centroid
        gps = [Message(0, "gps-fixes", GRID, msgspec.json.decode(_json(_gps(i, lon, lat)), type=GpsBatch))
               for i in range(1, goods["gps-fixes"] + 1)]
        _assert_views_equal_oracle(s, city, gps)
        day = local_day(T0, TZ)
        assert redis_counters(s)[f"new|{GRID}|{day}"] == goods["case-events"]
        view = LiveView.from_url(s.redis_url, s.redis_prefix, TZ)
        assert view.watermarks()["case"] == T0 + goods["case-events"] * 1000  # not the wrong clocks
        assert view.case("PZ-9999", None)["rejected_pending"]  # held, not applied

        # Operators find them: `gridpulse deadletter ls` and `show`.
        out = subprocess.run([sys.executable, "-m", "gridpulse.cli", "deadletter", "ls", "--all", "--json",
                              "--limit", "1000"], env=env_of(s), capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        docs = [json.loads(line) for line in out.stdout.splitlines()]
        assert {(d["topic"], d["partition"], d["offset"]) for d in docs} == set(letters)
        big = next(d for d in docs if d["size"] == 5_000_000 + 15)
        assert big["truncated"] and big["sha256"]
        shown = subprocess.run([sys.executable, "-m", "gridpulse.cli", "deadletter", "show", big["letter"]],
                               env=env_of(s), capture_output=True, text=True, timeout=120)
        assert shown.returncode == 0 and json.loads(shown.stdout)["reason"] == big["reason"]
        table = subprocess.run([sys.executable, "-m", "gridpulse.cli", "deadletter", "ls", "--all",
                                "--topic", "case-events"], env=env_of(s), capture_output=True, text=True,
                               timeout=120)
        assert "clock ahead" in table.stdout and "gps-fixes" not in table.stdout
        assert worker.alive()
    finally:
        worker.stop()
