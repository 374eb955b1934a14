"""The feed pump (dashboard/pump.py): background refreshes only of what browsers ask for."""

from __future__ import annotations

import time

from dashboard.pump import Asked, FeedPump


class Feed:
    def __init__(self):
        self.asked = Asked()
        self.refreshed: list = []

    def refresh_key(self, key):
        self.refreshed.append(key)
        if key == "boom":
            raise RuntimeError("redis away")


def test_without_a_pump_every_ask_reads_now():
    a = Asked()
    assert a.ask("k", loaded=True) and a.ask("k", loaded=False)


def test_with_a_pump_only_the_first_ask_reads_now():
    f = Feed()
    FeedPump().add(f)
    assert f.asked.ask("k", loaded=False)       # never read: the caller reads
    assert not f.asked.ask("k", loaded=True)    # then the pump does
    assert f.asked.asked_within(30) == ["k"] and f.asked.asked_within(0) == []


def test_the_pump_refreshes_asked_keys_and_survives_errors():
    f = Feed()
    pump = FeedPump(period_s=0.01, idle_s=30)
    pump.add(f)
    f.asked.ask("boom", loaded=True)
    f.asked.ask("a", loaded=True)
    pump.start()
    try:
        deadline = time.monotonic() + 30  # a hang guard, not a speed bound
        while f.refreshed.count("a") < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        pump.stop()
    assert f.refreshed.count("a") >= 3 and "boom" in f.refreshed  # an error does not stop it
    assert set(f.refreshed) == {"a", "boom"}  # nothing else is read


def test_throttle_reads_each_key_at_most_every_min_age():
    from dashboard.pump import Throttle

    t = Throttle(min_age_s=60)
    assert t.due("a") and not t.ever("a")
    t.done("a")
    assert not t.due("a") and t.ever("a")
    assert t.due("b")  # per key
    assert Throttle(min_age_s=0).due()  # 0: every ask reads
