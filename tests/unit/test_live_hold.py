"""The wall's live document never shows figures that are not true (dashboard/live.py,
dashboard/freshness_ui.py): null before anything is known, the last whole figures kept
(and marked, with their time) while the views are rebuilt, emptied or unreachable."""

from __future__ import annotations

import logging
import time
from types import SimpleNamespace

import pytest
import redis

from dashboard import freshness_ui
from dashboard.live import LiveFeed, WallFeeds
from dashboard.pump import FeedPump
from gridpulse.clock import parse_local
from gridpulse.freshness import Freshness, unreachable
from gridpulse.views import Kpis

TZ = "Asia/Shanghai"
NOW = parse_local("2026-11-27T10:00:00", TZ)
CITY = SimpleNamespace(code="330200", districts=[SimpleNamespace(code="330203"), SimpleNamespace(code="330205")])


class FakeView:
    """What LiveFeed reads, with ``fresh`` and ``open`` set by the test; ``away`` raises
    as redis-py does when Redis is gone."""

    def __init__(self) -> None:
        self.fresh = Freshness("live", data_at=NOW - 1000, age_s=1.0, lag={"case": 0, "gps": 0}, workers=1)
        self.open = 7
        self.away = False
        self.tz = TZ
        self.r, self.k = None, None  # the board and case list are replaced in the tests

    def _check(self):
        if self.away:
            raise redis.exceptions.ConnectionError("Connection refused")

    def freshness(self, _limits=None, now=None):
        self._check()
        return self.fresh

    def watermark(self):
        self._check()
        return NOW - 60_000

    def kpis(self, code, now=None, minutes=60):
        return Kpis(code, now or 0, self.open, 1, 20, 4, 9, 8, 5, 4, [0] * 60)

    def open_by_area(self, codes):
        return {c: self.open for c in codes}

    def recent_cases(self, limit=20, since=None):
        return []

    def dead_letters_today(self):
        return 2


class FakeVisits:
    def kpis(self, code, now=None):
        return {"visited_30d": 5, "households": 10, "visits_today": 3, "active_workers": 2}


def feed(view: FakeView, clock=lambda: NOW) -> LiveFeed:
    return LiveFeed(view, FakeVisits(), CITY, TZ, min_age_s=0, clock=clock)


def test_live_figures_are_shown_as_read():
    doc = feed(FakeView()).read(None)
    assert doc["tiles"]["open"] == 7 and doc["districts"] == [["330203", 7], ["330205", 7]]
    assert doc["fresh"] == {"state": "live", "records": None, "secs": None, "pct": None, "since": None,
                            "dim": False, "asof": "10:00"}


def test_nothing_computed_is_null_not_zero():
    view = FakeView()
    view.fresh = Freshness("empty", missing=("case", "gps"), workers=1)
    doc = feed(view).read(None)
    assert set(doc["tiles"].values()) == {None}
    assert doc["districts"] == [["330203", None], ["330205", None]]
    assert doc["trend"] == [] and doc["ticker"] == [] and doc["dead"] is None
    assert doc["fresh"]["state"] == "empty" and not doc["fresh"]["dim"]


def test_one_stream_missing_nulls_its_tiles_only():
    view = FakeView()
    view.fresh = Freshness("live", data_at=NOW, missing=("gps",), workers=1, lag={"case": 0, "gps": 0})
    tiles = feed(view).read(None)["tiles"]
    assert tiles["open"] == 7 and tiles["coverage"] is None and tiles["workers"] is None


def test_rebuilding_keeps_the_last_whole_figures_dimmed_with_their_time():
    view = FakeView()
    f = feed(view, clock=lambda: now[0])
    now = [NOW]
    assert f.read(None)["tiles"]["open"] == 7
    # Flushed and rebuilding: what Redis holds now is partial (here: a wrong, smaller count).
    view.open = 1
    view.fresh = Freshness("rebuilding", rebuilding={"done": 0.42, "partitions": []}, missing=("case",),
                           workers=1, lag={"case": 0, "gps": 0})
    now[0] = NOW + 120_000
    doc = f.read(None)
    assert doc["tiles"]["open"] == 7 and doc["districts"][0][1] == 7
    assert doc["fresh"]["state"] == "rebuilding" and doc["fresh"]["pct"] == 42
    assert doc["fresh"]["dim"] and doc["fresh"]["asof"] == "10:00"
    # Rebuilt: the new figures, no longer dimmed.
    view.open = 9
    view.fresh = Freshness("live", data_at=now[0], workers=1, lag={"case": 0, "gps": 0})
    doc = f.read(None)
    assert doc["tiles"]["open"] == 9 and not doc["fresh"]["dim"] and doc["fresh"]["asof"] == "10:02"


class FlushedWhileRead(FakeView):
    """Redis is flushed between the freshness read and the figures' reads: the counts
    read are zeros, and only a second look at the freshness can tell."""

    def __init__(self) -> None:
        super().__init__()
        self.flush_on_read = False

    def kpis(self, code, now=None, minutes=60):
        if self.flush_on_read:
            self.open = 0
            self.fresh = Freshness("empty", missing=("case", "gps"), workers=1)
        return super().kpis(code, now, minutes)


def test_a_flush_during_a_read_never_becomes_the_last_whole_figures():
    view = FlushedWhileRead()
    f = feed(view)
    assert f.read(None)["tiles"]["open"] == 7
    view.flush_on_read = True
    doc = f.read(None)
    assert doc["tiles"]["open"] == 7 and doc["fresh"]["state"] == "empty" and doc["fresh"]["dim"]
    view.flush_on_read = False
    doc = f.read(None)  # still emptied: the figures held are the whole ones, not the zeros
    assert doc["tiles"]["open"] == 7


def test_redis_away_keeps_the_last_document_marked_unreachable():
    view = FakeView()
    now = [NOW]
    f = feed(view, clock=lambda: now[0])
    f.read(None)
    view.away = True
    now[0] = NOW + 300_000
    doc = f.read(None)  # answered, not raised
    assert doc["tiles"]["open"] == 7
    assert doc["fresh"]["state"] == "unreachable" and doc["fresh"]["dim"] and doc["fresh"]["asof"] == "10:00"


def test_redis_away_from_the_start_answers_blank():
    view = FakeView()
    view.away = True
    doc = feed(view).read(None)
    assert doc["fresh"]["state"] == "unreachable" and set(doc["tiles"].values()) == {None}
    assert doc["cases"] == []


def test_stale_figures_are_dimmed_as_of_their_last_write():
    view = FakeView()
    view.fresh = Freshness("stale", data_at=NOW - 3_600_000, since=NOW - 3_600_000, reason="no_worker",
                           missing=(), workers=0)
    doc = feed(view).read(None)
    assert doc["tiles"]["open"] == 7
    assert doc["fresh"]["state"] == "stale" and doc["fresh"]["since"] == "09:00"
    assert doc["fresh"]["dim"] and doc["fresh"]["asof"] == "09:00"


def side_feed(view: FakeView, alerts_held: int = 0) -> WallFeeds:
    side = WallFeeds(view, min_age_s=0)
    side.cases = SimpleNamespace(open=lambda **kw: {"total": 1, "rows": []})
    side.board = SimpleNamespace(latest=lambda n: [],
                                 known=lambda fresh: fresh.has("case") or alerts_held > 0)
    return side


def test_side_panels_say_no_data_and_keep_what_they_had():
    view = FakeView()
    side = side_feed(view)
    assert side.read() == {"overdue": {"total": 1, "rows": []}, "alerts": {"open": 0, "more": False, "rows": []}}
    view.fresh = Freshness("rebuilding", rebuilding={"done": 0.1, "partitions": []}, missing=("case",))
    side.refresh_key()
    assert side.read()["overdue"] == {"total": 1, "rows": []}  # kept while rebuilding
    assert side_feed(view).read() == {"overdue": None, "alerts": None}  # never read: no board
    # Alerts on the board without case views: shown (an empty board is what is not known).
    assert side_feed(view, alerts_held=3).read()["alerts"] is not None
    view.away = True
    assert side_feed(view).read() == {"overdue": None, "alerts": None}


@pytest.mark.parametrize("sig, zh, en", [
    ({"state": "live"}, "实时", "LIVE"),
    ({"state": "behind", "records": 12000, "secs": 14}, "滞后 12000 条 · 14 秒", "Behind by 12,000 records · 14 s"),
    ({"state": "behind", "records": 0, "secs": 0}, "数据滞后", "Behind"),
    ({"state": "rebuilding", "pct": 42}, "重建中 42%", "Rebuilding 42%"),
    ({"state": "stale", "since": "09:05"}, "数据停滞 · 自 09:05", "Stale since 09:05"),
    ({"state": "stale", "since": None}, "数据停滞", "Stale"),
    ({"state": "empty"}, "暂无数据", "No data yet"),
    ({"state": "unreachable"}, "Redis 无法连接", "Redis unreachable"),
])
def test_indicator_words(sig, zh, en):
    assert (freshness_ui.label(sig, "zh"), freshness_ui.label(sig, "en")) == (zh, en)


def test_page_status_keeps_the_note_while_figures_are_held():
    from dash import no_update

    live = freshness_ui.page_status(FakeView().fresh, NOW, TZ, "en", "d-body")
    assert live == ("live-ind live", "LIVE", "Figures as of 10:00", "d-body")
    away = freshness_ui.page_status(None, NOW, TZ, "zh", "d-body")
    assert away == ("live-ind unreachable", "Redis 无法连接", no_update, "d-body dim")
    assert freshness_ui.signal(unreachable(), NOW, TZ)["dim"]


class Failing:
    """A feed whose refresh meets an unreachable Redis until ``ok``."""

    def __init__(self):
        from dashboard.pump import Asked

        self.asked = Asked()
        self.ok = False
        self.calls = 0

    def refresh_key(self, key):
        self.calls += 1
        if not self.ok:
            raise redis.exceptions.TimeoutError("Timeout reading from socket")


def test_the_pump_says_once_when_redis_goes_and_once_when_it_is_back(caplog):
    a, b = Failing(), Failing()
    pump = FeedPump(period_s=0.01)
    for f in (a, b):
        pump.add(f)
        f.asked.ask("k", loaded=True)
    with caplog.at_level(logging.INFO, logger="dashboard.pump"):
        pump.start()
        try:
            deadline = time.monotonic() + 30  # a hang guard, not a speed bound
            while min(a.calls, b.calls) < 5 and time.monotonic() < deadline:
                time.sleep(0.01)
            a.ok = b.ok = True
            seen = a.calls
            while a.calls < seen + 3 and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            pump.stop()
    lines = [r.getMessage() for r in caplog.records]
    assert sum("cannot be read" in m for m in lines) == 1, lines
    assert sum("answers again" in m for m in lines) == 1, lines
    assert not any(r.exc_info for r in caplog.records)
