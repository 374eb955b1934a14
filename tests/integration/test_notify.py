"""The notifier end to end, real processes on loopback: the broker, redis-server, the
worker, `gridpulse notify` and a recording HTTP receiver.

Timeouts below only guard against hangs; no test bounds a speed except the issue's own
"within group_wait plus 2 s", which is the product's promise, not a benchmark.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter

import msgspec
import pytest
import redis

from gridpulse.city import load_city
from gridpulse.clock import now_ms
from gridpulse.rkeys import Keys
from gridpulse.schemas import Alert, AlertAck, CaseEvent, encode
from notify import signing
from producers.simulator import Message
from tests.oracle import partition_of

from .notifying import NotifierProcess, Receiver, logged, wait_for
from .pipeline import WorkerProcess, _read_topic, _send, _send_raw, isolated_settings

pytestmark = pytest.mark.integration
MIN = 60_000
SECRET = "test-secret-0123456789"
LIN = dict(grid="330203001001003", community="330203001001", town="330203001", district="330203",
           city="330200")


def write_config(path, rcv: Receiver, route: dict, receivers: list[dict] | None = None, **extra) -> str:
    doc = {"global": {"allowlist": [rcv.url + "/"], "external_url": "http://wall.example"},
           "receivers": receivers or [{"name": "hook", "webhook": {"url": rcv.url + "/hook",
                                                                  "secret_env": "GP_TEST_SECRET"}}],
           "route": route, **extra}
    path.write_text(json.dumps(doc), encoding="utf-8")
    return str(path)


def live_alert(i: int, t: int, kind: str = "overdue", **kw) -> Alert:
    fields = dict(LIN, category="sanitation", dept="sanitation", severity=3, stage="dispatched", deadline=t)
    fields.update(kw)
    return Alert(id=f"L{i:05d}:handle:{t - 3_600_000}:{kind}", kind=kind, ts=t, case=f"L{i:05d}", **fields)


def test_an_overdue_case_reaches_the_receiver_signed_within_group_wait(kafka_bootstrap, redis_url,
                                                                        topic_prefix, tmp_path):
    """A hand-made event log through the real worker: an urgent case whose dispatch
    deadline has just passed. Its overdue alert reaches the receiver, signed, labelled,
    group_wait (30 s) plus at most 2 s after the worker wrote it."""
    city = load_city("ningbo")
    s = isolated_settings(kafka_bootstrap, redis_url, topic_prefix)
    rcv = Receiver(tmp_path / "got.jsonl")
    cfg = write_config(tmp_path / "notify.yaml", rcv, {"receiver": "hook", "group_by": ["case", "kind"]})
    s = s.replace(notify_config=cfg)
    grid = city.grids[0].code
    now = now_ms()
    # Registered 31 min 5 s ago: the urgent (24/7) dispatch deadline, 30 min, passed 65 s
    # ago; the worker writes the alert once its watermark (the other case's event, now) is
    # the allowed lateness (60 s) past it, i.e. at once, and the notifier tells it 30 s after.
    reg = now - 31 * MIN - 5000
    a, b = "LIVE-A", next(f"LIVE-B{i}" for i in range(99) if partition_of(f"LIVE-B{i}", s.partitions)
                          == partition_of("LIVE-A", s.partitions))

    def ev(case, n, kind, t):
        return Message(t, "case-events", case, CaseEvent(id=f"{case}.{n}", case=case, type=kind, ts=t, grid=grid,
                                                         category="fire", severity=1))

    worker = WorkerProcess(s)
    notifier = NotifierProcess(s, GP_TEST_SECRET=SECRET)
    try:
        asyncio.run(_send(s, [ev(a, 0, "reported", reg - MIN), ev(a, 1, "registered", reg),
                              ev(b, 0, "reported", now)]))
        overdue = f"{a}:dispatch:{reg}:overdue"
        wait_for(lambda: any(overdue in r["raw"].decode() for r in rcv.requests("/hook")), worker, notifier,
                 what="the overdue notification")
        (alert_rec,) = [r for r in asyncio.run(_read_topic(s, "alerts")) if r.key == overdue.encode()]
        req = next(r for r in rcv.requests("/hook") if overdue in r["raw"].decode())
        took = req["t"] - alert_rec.timestamp / 1000
        print(f"\noverdue alert written -> notification received: {took:.2f} s (group_wait 30 s)")
        assert took <= 30 + 2, took
        assert signing.verify(SECRET.encode(), req["headers"], req["raw"], int(time.time())) is None
        tampered = req["raw"].replace(b'"firing"', b'"resolved"', 1)
        assert signing.verify(SECRET.encode(), req["headers"], tampered, int(time.time())) is not None
        body = req["json"]
        assert body["version"] == "4" and body["status"] == "firing" and body["receiver"] == "hook"
        (al,) = [x for x in body["alerts"] if x["labels"]["id"] == overdue]
        assert al["labels"] | {"kind": "overdue", "case": a, "severity": "1", "clock": "dispatch",
                               "district": city.grid(grid).district} == al["labels"]
        assert al["annotations"]["case_url"] == f"http://wall.example/case/{a}"
        key = req["headers"]["Idempotency-Key"]
        wait_for(lambda: logged(s).get(key, {}).get("status") == "sent", notifier, what="the log's sent record")
        assert worker.alive() and notifier.alive()
    finally:
        notifier.stop()
        worker.stop()
        rcv.stop()


def _burst(s, n: int, t0: int, spread_ms: int = 5000, start: int = 0) -> list[Alert]:
    return [live_alert(start + i, t0 + i * spread_ms // max(1, n)) for i in range(n)]


def _send_alerts(s, alerts: list[Alert]) -> None:
    asyncio.run(_send_raw(s, [("alerts", a.id.encode(), encode(a)) for a in alerts]))


def _keys_and_alerts(reqs) -> tuple[Counter, set[str]]:
    keys = Counter(r["headers"]["Idempotency-Key"] for r in reqs)
    ids = {a["labels"]["id"] for r in reqs for a in r["json"]["alerts"]}
    return keys, ids


def test_receiver_down_for_60_s_then_up_gets_everything(kafka_bootstrap, redis_url, topic_prefix, tmp_path):
    s = isolated_settings(kafka_bootstrap, redis_url, topic_prefix)
    rcv = Receiver(tmp_path / "got.jsonl")
    rcv.stop()  # down: connections refused
    cfg = write_config(tmp_path / "notify.yaml", rcv, {"receiver": "hook", "group_by": ["case"], "group_wait": "0s"})
    s = s.replace(notify_config=cfg)
    notifier = NotifierProcess(s, GP_TEST_SECRET=SECRET)
    alerts = _burst(s, 40, now_ms() - 70_000)
    try:
        _send_alerts(s, alerts)
        wait_for(lambda: "attempt" in notifier.log(), notifier, what="a failed attempt")
        time.sleep(60)
        rcv.start()
        want = {a.id for a in alerts}
        wait_for(lambda: _keys_and_alerts(rcv.requests("/hook"))[1] >= want, notifier, what="every alert")
        wait_for(lambda: sum(n["status"] == "sent" for n in logged(s).values()) == len(alerts), notifier,
                 what="every notification logged sent")
        keys, _ = _keys_and_alerts(rcv.requests("/hook"))
        notes = logged(s)
        assert set(keys) == set(notes) and len(notes) == 40  # one notification per case, each received
        by_key = {}
        for r in rcv.requests("/hook"):  # a duplicate is the same notification, same key
            by_key.setdefault(r["headers"]["Idempotency-Key"], set()).add(r["raw"])
        assert all(len(bodies) == 1 for bodies in by_key.values())
        assert max(n["attempts"] for n in notes.values()) > 1
        assert notifier.alive()
    finally:
        notifier.stop()
        rcv.stop()


def test_sigkill_during_a_burst_loses_nothing_and_resends_only_in_flight(kafka_bootstrap, redis_url, topic_prefix,
                                                                        tmp_path):
    s = isolated_settings(kafka_bootstrap, redis_url, topic_prefix)
    rcv = Receiver(tmp_path / "got.jsonl")
    cfg = write_config(tmp_path / "notify.yaml", rcv, {"receiver": "hook", "group_by": ["case"], "group_wait": "0s"},
                       receivers=[{"name": "hook", "webhook": {"url": rcv.url + "/hook", "secret_env": "GP_TEST_SECRET",
                                                              "concurrency": 4}}])
    s = s.replace(notify_config=cfg)
    alerts = _burst(s, 1500, now_ms() - 70_000, spread_ms=1000)
    notifier = NotifierProcess(s, GP_TEST_SECRET=SECRET, GRIDPULSE_NOTIFY_REPLICA="n1")
    try:
        _send_alerts(s, alerts)
        wait_for(lambda: len(rcv.requests("/hook")) >= 200, notifier, what="the burst to start")
        notifier.kill()
        before = Counter(r["headers"]["Idempotency-Key"] for r in rcv.requests("/hook"))
        notifier = NotifierProcess(s, "notifier-2", GP_TEST_SECRET=SECRET, GRIDPULSE_NOTIFY_REPLICA="n1")
        want = {a.id for a in alerts}
        wait_for(lambda: _keys_and_alerts(rcv.requests("/hook"))[1] >= want, notifier, what="every alert")
        wait_for(lambda: sum(n["status"] == "sent" for n in logged(s).values()) == len(alerts), notifier,
                 what="every notification logged sent")
        keys, _ = _keys_and_alerts(rcv.requests("/hook"))
        twice = {k for k, c in keys.items() if c > 1}
        print(f"\nreceived before the kill: {len(before)}; sent twice: {len(twice)} (concurrency 4)")
        assert twice <= set(before)  # only what was in flight at the kill goes again...
        assert len(twice) <= 4  # ...at most one request per connection, same key
        assert len(keys) == len(alerts)
    finally:
        notifier.stop()
        rcv.stop()


def test_two_replicas_never_both_send_one_notification(kafka_bootstrap, redis_url, topic_prefix, tmp_path):
    s = isolated_settings(kafka_bootstrap, redis_url, topic_prefix)
    rcv = Receiver(tmp_path / "got.jsonl")
    cfg = write_config(tmp_path / "notify.yaml", rcv, {"receiver": "hook", "group_by": ["case"], "group_wait": "0s"})
    s = s.replace(notify_config=cfg)
    alerts = _burst(s, 600, now_ms() - 70_000, spread_ms=1000)
    n1 = NotifierProcess(s, "n1", GP_TEST_SECRET=SECRET, GRIDPULSE_NOTIFY_REPLICA="n1")
    n2 = NotifierProcess(s, "n2", GP_TEST_SECRET=SECRET, GRIDPULSE_NOTIFY_REPLICA="n2")
    try:
        _send_alerts(s, alerts)
        wait_for(lambda: sum(n["status"] == "sent" for n in logged(s).values()) == len(alerts), n1, n2,
                 what="every notification logged sent")
        keys, ids = _keys_and_alerts(rcv.requests("/hook"))
        assert ids == {a.id for a in alerts} and len(keys) == len(alerts)
        assert max(keys.values()) == 1  # each notification sent by one replica, once
        replicas = Counter(n["replica"] for n in logged(s).values())
        print(f"\nsent by replica: {dict(replicas)}")
    finally:
        n1.stop()
        n2.stop()
        rcv.stop()


def _max_in_window(times: list[float], window: float = 60.0) -> int:
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


def test_ten_thousand_alerts_keep_every_receiver_within_its_rate_limit(kafka_bootstrap, redis_url, topic_prefix,
                                                                       tmp_path):
    s = isolated_settings(kafka_bootstrap, redis_url, topic_prefix)
    rcv = Receiver(tmp_path / "got.jsonl")
    receivers = [
        {"name": "hook", "webhook": {"url": rcv.url + "/hook", "secret_env": "GP_TEST_SECRET"}},
        {"name": "dt", "dingtalk": {"url": rcv.url + "/dingtalk?access_token=tok", "secret_env": "GP_TEST_SECRET",
                                    "at_mobiles": ["13800000000"]}},
        {"name": "wc", "wecom": {"url": rcv.url + "/wecom?key=k"}}]
    robot = {"matchers": ['kind="overdue"'], "group_by": ["case"], "continue": True}
    cfg = write_config(tmp_path / "notify.yaml", rcv, {
        "receiver": "hook", "group_by": ["district"], "group_wait": "0s", "group_interval": "10s",
        "routes": [robot | {"receiver": "dt"}, robot | {"receiver": "wc"},
                   {"matchers": ['kind="overdue"'], "receiver": "hook"}]}, receivers=receivers)
    s = s.replace(notify_config=cfg)
    # Dated so their flushes fall due one after another over ~5 s as the clock moves.
    alerts = _burst(s, 10_000, now_ms() - 58_000, spread_ms=5000)
    notifier = NotifierProcess(s, GP_TEST_SECRET=SECRET)
    try:
        t0 = time.monotonic()
        _send_alerts(s, alerts)
        print(f"\n10,000 alerts written in {time.monotonic() - t0:.1f} s")
        want = {a.id for a in alerts}

        def covered(receiver: str) -> set[str]:
            return {a["id"] for n in logged(s).values() if n["receiver"] == receiver and n["status"] == "sent"
                    for a in n["alerts"]}

        wait_for(lambda: all(covered(r) >= want for r in ("hook", "dt", "wc")), notifier, timeout=600,
                 what="every alert in a sent notification of every receiver")
        for path in ("/dingtalk", "/wecom"):
            reqs = rcv.requests(path)
            peak = _max_in_window([r["t"] for r in reqs])
            print(f"{path}: {len(reqs)} messages for 10,000 notifications, at most {peak} in 60 s")
            assert peak <= 20
        for r in rcv.requests("/wecom"):
            assert len(r["json"]["markdown"]["content"].encode()) <= 4096
        dt = rcv.requests("/dingtalk")[0]
        q = dict(p.split("=", 1) for p in dt["query"].split("&"))
        from urllib.parse import unquote  # the HTTP client may send '/' for '%2F': the same once decoded
        assert q["access_token"] == "tok"
        assert unquote(q["sign"]) == unquote(signing.dingtalk_sign(SECRET, int(q["timestamp"])))
        assert dt["json"]["at"]["atMobiles"] == ["13800000000"]
        _, hook_ids = _keys_and_alerts(rcv.requests("/hook"))
        assert hook_ids >= want  # the webhook's groups (by district) carry every alert too
        assert notifier.alive()
    finally:
        notifier.stop()
        rcv.stop()


def test_poison_on_every_topic_is_dead_lettered_and_the_notifier_goes_on(kafka_bootstrap, redis_url,
                                                                         topic_prefix, tmp_path):
    from gridpulse.schemas import decode_deadletter
    s = isolated_settings(kafka_bootstrap, redis_url, topic_prefix)
    rcv = Receiver(tmp_path / "got.jsonl")
    cfg = write_config(tmp_path / "notify.yaml", rcv, {"receiver": "hook", "group_by": ["case"], "group_wait": "0s"})
    s = s.replace(notify_config=cfg)
    notifier = NotifierProcess(s, GP_TEST_SECRET=SECRET)
    good = live_alert(1, now_ms() - 61_000)
    bad = [b"\xff\xfe", b"", None, b"{", b'{"v":1,"id":"x"}', b"[1,2]"]
    items = [(t, b"k", v) for t in ("alerts", "alert-acks", "silences", "notify-log") for v in bad]
    items.append(("alerts", b"wrong-key", encode(good)))
    items.append(("alerts", good.id.encode(), encode(good)))
    try:
        asyncio.run(_send_raw(s, items))
        wait_for(lambda: any(good.id in r["raw"].decode() for r in rcv.requests("/hook")), notifier,
                 what="the valid alert after the poison")
        letters = [decode_deadletter(r.value) for r in asyncio.run(_read_topic(s, "deadletter"))]
        where = Counter(d.topic.removeprefix(s.topic_prefix) for d in letters)
        assert where == {"alerts": 7, "alert-acks": 6, "silences": 6, "notify-log": 6}, where
        assert any("key b'wrong-key' is not the value's id" in d.reason for d in letters)
        assert notifier.alive()
    finally:
        notifier.stop()
        rcv.stop()


def test_a_restart_mirrors_what_the_log_holds(kafka_bootstrap, redis_url, topic_prefix, tmp_path):
    """Killed between logging a final record in Kafka and mirroring it in Redis, a notifier
    left the Redis copy saying "pending" (or nothing): the next one mirrors the log as read."""
    from gridpulse.schemas import NotifiedAlert, Notification
    s = isolated_settings(kafka_bootstrap, redis_url, topic_prefix)
    rcv = Receiver(tmp_path / "got.jsonl")
    s = s.replace(notify_config=write_config(tmp_path / "notify.yaml", rcv, {"receiver": "hook"}))
    at = now_ms() - 10 * MIN
    notes = [Notification(key=f"{i:032x}", receiver="hook", group_key="{}:{case=\"c\"}", at=at, reason="firing",
                          alerts=[NotifiedAlert(id=f"a{i}", fingerprint="0" * 16, status="firing")],
                          status=status, attempts=1, decided=at, sent=at + 1)
             for i, status in enumerate(["sent", "sent", "failed"])]
    asyncio.run(_send_raw(s, [("notify-log", n.key.encode(), encode(n)) for n in notes]))
    # A fourth notification another replica is sending: its pending record is in the log
    # and it has since finished, but its "sent" record is not read yet. The mirror it
    # wrote must not go back to "pending".
    r, k = redis.Redis.from_url(s.redis_url), Keys(s.redis_prefix)
    other = msgspec.structs.replace(notes[0], key=f"{9:032x}", status="pending")
    asyncio.run(_send_raw(s, [("notify-log", other.key.encode(), encode(other))]))
    r.hset(k.notify_log(), other.key, encode(msgspec.structs.replace(other, status="sent")))
    r.set(k.notify_claim(other.key), "done:sent")
    notifier = NotifierProcess(s, GP_TEST_SECRET=SECRET)
    try:
        wait_for(lambda: "caught up" in notifier.log(), notifier, what="the notifier to catch up")
        wait_for(lambda: len(logged(s)) == 4, notifier, what="the log mirrored")
        # (it mirrors the log before it says it caught up)
        assert {k: n["status"] for k, n in logged(s).items()} == {
            **{n.key: n.status for n in notes}, other.key: "sent"}
    finally:
        notifier.stop()
        rcv.stop()
