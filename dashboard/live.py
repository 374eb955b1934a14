"""The per-tick live payload: everything the wall shows that changes, and nothing else.

One small JSON document a tick: the clock, the tile figures, the 60-minute trend, the
ticker, open cases per district and the cases reported since the browser's cursor (map
points, keyed by case id). :class:`LiveFeed` reads it once for every browser and cuts
each browser's map points from the window of cases it holds. On the slower tick, :class:`WallFeeds` (read at most every
few seconds, shared by every browser) sends the overdue board (CaseList, most late
first) and the alerts summary (AlertBoard). Static geometry never travels here (geometry.py), nor do the
per-grid coverage colours or today's hexagon counts (coverage.py, sent only when they
change).
"""

from __future__ import annotations

import threading
from datetime import datetime
from zoneinfo import ZoneInfo

from gridpulse.alert_views import AlertBoard
from gridpulse.case_list import CaseList

from gridpulse.city import CityModel
from gridpulse.clock import HOUR_MS, fmt_local, now_ms
from gridpulse.freshness import CASE, EMPTY, GPS, REBUILDING, Freshness, Limits, unreachable
from gridpulse.freshness import UNREACHABLE as GONE
from gridpulse.views import UNREACHABLE, LiveView
from gridpulse.visit_views import VisitView

from .freshness_ui import figures_time, signal
from .pump import Asked, Throttle

TICKER_ROWS = 15
CASE_WINDOW_MS = HOUR_MS  # the map shows cases reported in the last hour
# Partitions advance unevenly, so a case can be applied after newer ones were sent:
# each tick re-asks for a margin before the cursor and the browser dedupes by id.
CASE_OVERLAP_MS = 60_000


def _offset_ms(ts: int, tz: str) -> int:
    off = datetime.fromtimestamp(ts / 1000, tz=ZoneInfo(tz)).utcoffset()
    return int(off.total_seconds() * 1000) if off else 0


def permille(num: int, den: int) -> int | None:
    """``num / den`` in tenths of a percent, rounded half up; None when ``den`` is 0.

    The wall shows rates with one decimal; sending the rounded integer keeps the tick
    small and makes the browser's text exact (no float formatting in JavaScript).
    """
    return (2000 * num + den) // (2 * den) if den else None


def _case_row(c: dict, wm: int) -> list:
    # Age in whole seconds instead of an epoch-ms stamp: the map only fades by age.
    return [c["case"], (wm - c["ts"]) // 1000, round(c["lon"], 5), round(c["lat"], 5),
            c["category"], c["severity"]]


OVERDUE_ROWS = 8  # = layout.OVERDUE_ROWS
ALERT_ROWS = 3  # = layout.ALERT_ROWS
ALERT_SCAN = 500  # the wall counts open alerts among the newest this many
SLOW_S = 5.0  # the overdue board and alerts summary: read at most this often


def overdue_rows(cases: CaseList, limit: int = OVERDUE_ROWS, now: int | None = None) -> dict:
    """The wall's overdue board: CaseList.open(overdue=True, sort="late") as compact rows
    ``[case, district, category, severity, stage, late_ms]``."""
    got = cases.open(overdue=True, sort="late", limit=limit, now=now)
    return {"total": got["total"],
            "rows": [[r["case"], r["district"], r["category"], r["severity"], r["stage"],
                      r["late_ms"]] for r in got["rows"]]}


def alert_subject(a: dict) -> str:
    """What an alert is about: its case, else its terminal/worker, else its grid."""
    return a.get("case") or a.get("worker") or a.get("terminal") or a.get("grid") or ""


def alert_summary(board: AlertBoard, rows: int = ALERT_ROWS, scan: int = ALERT_SCAN) -> dict:
    """Open (unacknowledged, unresolved) alerts among the newest ``scan`` and the newest
    ``rows`` of them as ``[id, kind, ts, district, status, subject]``."""
    latest = board.latest(scan)
    opened = [a for a in latest if a["status"] == "open"]
    return {"open": len(opened), "more": len(latest) >= scan,
            "rows": [[a["id"], a["kind"], a["ts"], a.get("district") or "", a["status"],
                      alert_subject(a)] for a in opened[:rows]]}


NO_SIDE = {"overdue": None, "alerts": None}  # no case views to read: no board, not an empty one


class WallFeeds:
    """The wall's slower panels, read at most every ``min_age_s`` for every browser.

    While the views are being rebuilt or were emptied, the panels last read from whole
    views stay (as the tiles do, LiveFeed); with no case views ever read, they are
    :data:`NO_SIDE`; while Redis is away, the last read stays (the pump retries).
    """

    def __init__(self, view: LiveView, min_age_s: float = SLOW_S, limits: Limits = Limits()) -> None:
        self.view, self.limits = view, limits
        self.cases = CaseList(view)
        self.board = AlertBoard(view.r, view.k)
        self.throttle = Throttle(min_age_s)  # Redis: one read at a time
        self.asked = Asked()  # FeedPump: refreshed in the background while asked for
        self._doc: dict = {}

    def refresh_key(self, _key=None) -> None:
        """Re-read both panels unless they were read within ``min_age_s``."""
        with self.throttle.lock:
            if not self.throttle.due():
                return
            fresh = self.view.freshness(self.limits)
            # Panels read from whole views stay while a rebuild may have left part of them.
            keep = fresh.state in (REBUILDING, EMPTY) and self._doc.get("overdue") is not None
            if not keep:
                self._doc = {"overdue": overdue_rows(self.cases) if fresh.has(CASE) else None,
                             "alerts": alert_summary(self.board) if self.board.known(fresh) else None}
            self.throttle.done()

    def read(self) -> dict:
        """The overdue board and the alerts summary, as last read."""
        if self.asked.ask("side", bool(self._doc)):
            try:
                self.refresh_key()
            except UNREACHABLE:  # the pump keeps trying; the wall keeps what it shows
                return self._doc or dict(NO_SIDE)
        return self._doc


CASE_TILES = ("new_today", "last_hour", "open", "overdue", "on_time", "satisfied")
GPS_TILES = ("coverage", "visits_today", "workers")


def blank_doc(city: CityModel) -> dict:
    """The live document before anything was read: every figure None (the wall shows "–")."""
    return {"wm": 0, "clock": "", "weekday": 0, "off": 0,
            "tiles": dict.fromkeys(CASE_TILES + GPS_TILES), "trend": [],
            "districts": [[d.code, None] for d in city.districts], "ticker": [],
            "window": CASE_WINDOW_MS, "dead": None}


def shared_doc(view: LiveView, visits: VisitView, city: CityModel, tz: str,
               fresh: Freshness | None = None) -> dict:
    """The part of the live document every browser gets alike: the clock, the tiles, the
    trend, open cases per district and the ticker (no map points). The figures of a
    stream ``fresh`` says has no whole projection are None (never 0)."""
    doc = blank_doc(city)
    wm = view.watermark()
    doc.update({
        "wm": wm,
        "clock": fmt_local(wm, tz) if wm else "",
        "weekday": datetime.fromtimestamp(wm / 1000, tz=ZoneInfo(tz)).weekday() if wm else 0,
        "off": _offset_ms(wm, tz) if wm else 0,
        # Dead letters live in Redis with the views: with no view at all (a new or flushed
        # Redis) their count is unknown too.
        "dead": view.dead_letters_today() if fresh is None or len(fresh.missing) < 2 else None,
    })
    if fresh is None or fresh.has(CASE):
        k = view.kpis(city.code, now=wm)
        districts = [d.code for d in city.districts]
        opened = view.open_by_area(districts)
        ticker = view.recent_cases(TICKER_ROWS)
        doc["tiles"].update({"new_today": k.new_today, "last_hour": k.new_last_hour, "open": k.open,
                             "overdue": k.overdue, "on_time": permille(k.on_time_today, k.closed_today),
                             "satisfied": permille(k.satisfied_today, k.evaluated_today)})
        doc.update({"trend": k.per_minute,
                    "districts": [[code, opened.get(code, 0)] for code in districts],
                    "ticker": [[c["ts"], c["district"], c["category"], c["severity"], c["stage"],
                                c["case"]] for c in ticker]})
    if fresh is None or fresh.has(GPS):
        # The visit figures are VisitView's (what /api/visits answers): a handful of counter
        # fields, where counting distinct workers meant reading every position each tick.
        v = visits.kpis(city.code)
        doc["tiles"].update({"coverage": permille(v["visited_30d"], v["households"]),
                             "visits_today": v["visits_today"], "workers": v["active_workers"]})
    return doc


def merge_cases(held: dict[str, dict], new: list[dict], floor: int) -> None:
    """Add ``new`` recent cases to ``held`` (by case id) and drop those reported before
    ``floor``: the cases of the map's window, kept in memory between reads."""
    for c in new:
        if c.get("lon") is not None:
            held[c["case"]] = c
    for case in [case for case, c in held.items() if c["ts"] < floor]:
        del held[case]


def browser_cases(held: dict[str, dict], wm: int, case_cursor: int | None) -> tuple[list[list], int]:
    """The map rows a browser whose newest case is ``case_cursor`` still needs (newest
    first; re-sent from a margin before its cursor, see CASE_OVERLAP_MS) and its next cursor."""
    floor = wm - CASE_WINDOW_MS
    since = floor if case_cursor is None else max(floor, case_cursor - CASE_OVERLAP_MS)
    cases = sorted((c for c in held.values() if c["ts"] >= since),
                   key=lambda c: (c["ts"], c["case"]), reverse=True)
    return ([_case_row(c, wm) for c in cases],
            max((c["ts"] for c in cases), default=case_cursor or floor))


class LiveFeed:
    """The 1-second live document, read once for every browser at most every
    ``min_age_s`` (FeedPump: in the background while some browser asks).

    Each browser still gets only the map points it lacks (its own case cursor), cut
    from the window of recent cases held here; so a callback touches no Redis, and ten
    walls cost Redis what one does.

    Every document carries ``fresh`` (freshness_ui.signal: the views' state, whether its
    figures are dimmed and the time they are from). Figures are never replaced by ones
    that are not true: while the views are being rebuilt or were emptied, the document
    keeps the figures of the last read of whole views; while Redis is away, the last
    document stays, marked unreachable, and the pump keeps trying.
    """

    def __init__(self, view: LiveView, visits: VisitView, city: CityModel, tz: str,
                 min_age_s: float = 0.5, limits: Limits = Limits(), clock=now_ms) -> None:
        self.view, self.visits, self.city, self.tz = view, visits, city, tz
        self.limits, self.clock = limits, clock
        self.asked = Asked()
        self.throttle = Throttle(min_age_s)  # Redis: one reader at a time (pump or a first ask)
        self._lock = threading.Lock()  # the document and the cases, replaced together
        self._doc: dict = {}
        self._figures_at: int | None = None  # wall-clock ms the figures of _doc were true
        self._whole: tuple[dict, int] | None = None  # the last document read from whole views
        self._cases: dict[str, dict] = {}
        self._cursor: int | None = None

    def refresh_key(self, _key=None) -> None:
        """Re-read the shared document and the cases reported since the last read,
        unless they were read within ``min_age_s``. Raises what redis-py raises when
        Redis is away, after marking the document held."""
        with self.throttle.lock:
            if not self.throttle.due():
                return
            now = self.clock()
            try:
                fresh = self.view.freshness(self.limits, now)
                if fresh.state in (REBUILDING, EMPTY) and self._whole is not None:
                    self._hold(fresh, now)
                else:
                    self._take(fresh, now)
            except UNREACHABLE:
                self._hold(unreachable(), now)
                raise
            self.throttle.done()

    def _take(self, fresh: Freshness, now: int) -> None:
        """Show what was read now, unless the views went while it was read."""
        doc = shared_doc(self.view, self.visits, self.city, self.tz, fresh)
        after = self.view.freshness(self.limits, now)
        gone = set(after.missing) - set(fresh.missing)
        if gone or (after.state in (REBUILDING, EMPTY) and fresh.state not in (REBUILDING, EMPTY)):
            # Redis was flushed (or a rebuild began) between the two reads: what was read
            # may be zeros that are not true. Keep the last whole figures instead.
            self._hold(after, now)
            return
        wm = doc["wm"]
        floor = wm - CASE_WINDOW_MS
        since = floor if self._cursor is None else max(floor, self._cursor - CASE_OVERLAP_MS)
        new = self.view.recent_cases(since=since) if wm and fresh.has(CASE) else []
        cases = dict(self._cases)
        merge_cases(cases, new, floor)
        at = figures_time(fresh, now)
        doc["fresh"] = signal(fresh, now, self.tz, at)
        with self._lock:
            self._doc, self._cases, self._figures_at = doc, cases, at
            # Never backwards: the overlap re-reads cases older than the cursor.
            newest = max((c["ts"] for c in new), default=None)
            if newest is not None and (self._cursor is None or newest > self._cursor):
                self._cursor = newest
        if fresh.state not in (REBUILDING, EMPTY):
            self._whole = (doc, at)

    def _hold(self, fresh: Freshness, now: int) -> None:
        """Keep showing earlier figures, with the state of now and the time they are from:
        the last whole read's while rebuilding or emptied, the last shown when Redis is away."""
        with self._lock:
            if fresh.state == GONE:
                base, at = (self._doc or blank_doc(self.city)), self._figures_at
            else:
                base, at = self._whole if self._whole is not None else (blank_doc(self.city), None)
            self._doc = {**base, "fresh": signal(fresh, now, self.tz, at, held=True)}
            self._figures_at = at

    def read(self, case_cursor: int | None) -> dict:
        """The live document for a browser whose newest case is ``case_cursor`` (epoch ms)."""
        if self.asked.ask("live", bool(self._doc)):
            try:
                self.refresh_key()
            except UNREACHABLE:  # answered from the held document; the pump keeps trying
                pass
        with self._lock:
            doc, held = self._doc, self._cases
        rows, cursor = browser_cases(held, doc.get("wm", 0), case_cursor)
        return {**doc, "cases": rows, "case_cursor": cursor}
