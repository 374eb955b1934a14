"""The wall's grid colours and hexagons: compact per-grid arrays, sent only when they changed.

The map colours the 12,216 grids by a selectable KPI (``FILL_MODES``): the grid's open
or overdue cases now, or the share of its households visited in a window (today, this
week, 30 days; :meth:`VisitView.coverage_by_area`). The geometry is static
(``gridfill.json``, fetched once when a browser first turns the colours on); what
travels is one small integer per grid, **in the order of the static geometry**
(``city.rings("grid")``, the order of ``grids.json`` and ``gridfill.json``): the case
count, or the coverage percentage rounded up (so a single visit shows), -1 for a grid
without households. The browser buckets them into colours (assets/wall.js).

As with the worker positions, the server keeps the last array it read per window and
stamps each grid with the version it last changed in; a browser sends the cursor it
holds and gets nothing (no update) if nothing changed, the changed grids as index/value
pairs, or the whole array (first time, another mode, another server process, or when
most grids changed). Redis is read at most every ``min_age_s`` per mode, whatever the
number of browsers.
"""

from __future__ import annotations

import math
import secrets
import threading
from dataclasses import dataclass, field

from gridpulse.visit_views import VisitView

from .pump import Asked, Throttle

WINDOWS = ("today", "week", "30d")
CASE_MODES = ("open", "overdue")
FILL_MODES = CASE_MODES + WINDOWS


def percent(share: float | None) -> int:
    """A coverage share as the integer percentage the colours use (-1: no households)."""
    if share is None:
        return -1
    return min(100, math.ceil(100 * share - 1e-9))


@dataclass
class _Window:
    values: list[int] = field(default_factory=list)
    changed: list[int] = field(default_factory=list)  # version each grid last changed in
    version: int = 0


class GridFillFeed:
    """Shared, throttled reader of every grid's value per mode with per-grid change versions."""

    def __init__(self, visits: VisitView, grids: list[str], min_age_s: float = 5.0) -> None:
        self.visits = visits
        self.grids = grids  # the static geometry's order
        self.epoch = secrets.token_hex(4)
        self._lock = threading.Lock()  # the windows' arrays and versions
        self.throttle = Throttle(min_age_s)  # Redis: one read at a time, per mode
        self.asked = Asked()  # FeedPump: refreshed in the background while asked for
        self._win = {m: _Window() for m in FILL_MODES}
        self._readers: dict = {}  # mode -> prepared read of every grid (CounterReader)

    def _read(self, mode: str) -> list[int]:
        read = self._readers.get(mode)
        if read is None:
            if mode in CASE_MODES:
                # The same per-grid counters the drill-down's grid tiles sum.
                read = self.visits.live.reader([f"{mode}|{g}" for g in self.grids]).read
            else:
                shares = self.visits.coverage_reader(self.grids, mode)

                def read(shares=shares) -> list[int]:
                    got = shares()
                    return [percent(got[g]) for g in self.grids]
            self._readers[mode] = read
        return read()

    def refresh_key(self, mode: str) -> None:
        """Re-read mode ``mode`` unless it was read within ``min_age_s``."""
        with self.throttle.lock:
            if not self.throttle.due(mode):
                return
            w = self._win[mode]
            fresh = self._read(mode)
            with self._lock:
                if not w.values:
                    w.version, w.values, w.changed = 1, fresh, [1] * len(fresh)
                elif fresh != w.values:
                    w.version += 1
                    for i, (old, new) in enumerate(zip(w.values, fresh)):
                        if old != new:
                            w.changed[i] = w.version
                    w.values = fresh
            self.throttle.done(mode)

    def delta(self, window: str, cursor: str | None) -> dict | None:
        """What a browser holding ``cursor`` needs for mode ``window``; None if it is current."""
        if window not in FILL_MODES:
            raise ValueError(window)
        w = self._win[window]
        if self.asked.ask(window, self.throttle.ever(window)):
            self.refresh_key(window)
        with self._lock:
            head = f"{self.epoch}:{window}:"
            since = -1
            if cursor and cursor.startswith(head):
                since = int(cursor[len(head):])
            if since == w.version:
                return None
            doc = {"cursor": f"{head}{w.version}", "w": window, "n": len(w.values)}
            idx = [i for i, v in enumerate(w.changed) if v > since] if since >= 0 else None
            if idx is None or 2 * len(idx) > len(w.values):
                return {**doc, "full": True, "v": list(w.values)}
            return {**doc, "full": False, "i": idx, "v": [w.values[i] for i in idx]}


class HeatFeed:
    """Today's new cases per grid for the map's hexagons, sent only when they changed.

    Reads the ``new|<grid>|<day>`` counters (the same the KPI tiles sum) of every grid at
    most every ``min_age_s``; a browser gets ``{"cursor", "day", "pts": [[lon, lat, n],
    ...]}`` (grids with n > 0, at their label point) or nothing if its cursor is current.
    """

    def __init__(self, view, city, tz: str, min_age_s: float = 5.0) -> None:
        self.view, self.tz = view, tz
        codes = sorted({code for code, _ in city.rings("grid")})
        self.grids = [(c, city.grid(c).centroid) for c in codes]
        self.epoch = secrets.token_hex(4)
        self._lock = threading.Lock()  # the document
        self.throttle = Throttle(min_age_s)  # Redis: one read at a time
        self.asked = Asked()  # FeedPump: refreshed in the background while asked for
        self._doc: dict | None = None
        self._version = 0
        self._reader = None  # (day, CounterReader of that day's per-grid counters)

    def refresh_key(self, _key=None) -> None:
        """Re-read today's counters unless they were read within ``min_age_s``."""
        from gridpulse.clock import local_day

        with self.throttle.lock:
            if not self.throttle.due():
                return
            wm = self.view.watermark()
            day = local_day(wm, self.tz) if wm else 0
            if self._reader is None or self._reader[0] != day:
                fields = [f"new|{c}|{day}" for c, _ in self.grids]
                self._reader = (day, self.view.reader(fields))
            counts = self._reader[1].read()
            pts = [[round(xy[0], 5), round(xy[1], 5), n]
                   for (_, xy), n in zip(self.grids, counts) if n > 0]
            with self._lock:
                if self._doc is None or pts != self._doc["pts"] or day != self._doc["day"]:
                    self._version += 1
                    self._doc = {"cursor": f"{self.epoch}:{self._version}", "day": day, "pts": pts}
            self.throttle.done()

    def delta(self, cursor: str | None) -> dict | None:
        """Today's points for a browser holding ``cursor``; None if it is current."""
        if self.asked.ask("heat", self.throttle.ever()):
            self.refresh_key()
        with self._lock:
            if self._doc is None or cursor == self._doc["cursor"]:
                return None
            return self._doc
