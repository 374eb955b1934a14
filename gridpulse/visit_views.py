"""Read side of the visit pipeline: KPIs per area, coverage, and one worker's day.

Merges the GPS partitions' projections (``gridpulse.rkeys``) the way
:class:`gridpulse.views.LiveView` merges the case partitions'. Household totals per area
come from the city model, since they are facts of the city, not of the stream.
"""

from __future__ import annotations

from typing import Callable

import msgspec

from gridpulse.clock import day_start_ms, local_day
from gridpulse.rkeys import GPS
from gridpulse.views import LiveView
from gridpulse.visits.day import unpack_route

_json = msgspec.json.Decoder()


COVERAGE_FIELD = {"today": "cov1", "week": "cov7", "30d": "cov30"}  # window -> counter


def _shares(codes: list[str], visited: list[int], households: list[int]) -> dict[str, float | None]:
    return {c: (v / hh if hh else None) for c, v, hh in zip(codes, visited, households)}


def unknown_visit_kpis(code: str, households: int) -> dict:
    """:meth:`VisitView.kpis` of an area with no GPS projection to read: every figure of
    the stream ``null`` (the households are the city model's, so they stay)."""
    return {"code": code, "watermark": 0, "day": 0, "active_workers": None, "silent_terminals": None,
            "off_grid_workers": None, "visits_today": None, "households": households,
            "visited_today": None, "visited_week": None, "visited_30d": None, "coverage_today": None,
            "coverage_week": None, "coverage_30d": None, "silent_grids": None}


class VisitView:
    """Visit KPIs and terminal-days, read from Redis."""

    def __init__(self, live: LiveView, households_of: Callable[[str], int]) -> None:
        self.live, self.r, self.k = live, live.r, live.k
        self.households_of = households_of  # area code -> households in it

    def counters(self, fields: list[str]) -> list[int]:
        """Sum of each visit counter over the GPS partitions."""
        return self.live.counters(fields, GPS)

    def now(self) -> int:
        """The GPS clock: the newest fix time applied."""
        return self.live.watermarks()[GPS]

    def kpis(self, code: str, now: int | None = None) -> dict:
        """Workers out now, silent, off grid; visits today; coverage; silent grids."""
        wm = self.now() if now is None else now
        day = local_day(wm, self.live.tz) if wm else 0
        act, sil, off, vis, c1, c7, c30 = self.counters(
            [f"wact|{code}", f"wsil|{code}", f"woff|{code}", f"visits|{code}|{day}",
             f"cov1|{code}", f"cov7|{code}", f"cov30|{code}"])
        hh = self.households_of(code)
        sg = self.r.hget(self.k.silent(), f"sgrid|{code}")
        return {"code": code, "watermark": wm, "day": day, "active_workers": act,
                "silent_terminals": sil, "off_grid_workers": off, "visits_today": vis,
                "households": hh, "visited_today": c1, "visited_week": c7, "visited_30d": c30,
                "coverage_today": c1 / hh if hh else None,
                "coverage_week": c7 / hh if hh else None,
                "coverage_30d": c30 / hh if hh else None,
                "silent_grids": int(sg or 0)}

    def coverage_by_area(self, codes: list[str], window: str = "30d") -> dict[str, float | None]:
        """Coverage (share of households visited in ``window``: today, week, 30d) per area."""
        vals = self.counters([f"{COVERAGE_FIELD[window]}|{c}" for c in codes])
        return _shares(codes, vals, [self.households_of(c) for c in codes])

    def coverage_reader(self, codes: list[str], window: str = "30d") -> Callable[[], dict[str, float | None]]:
        """:meth:`coverage_by_area` of fixed ``codes``, prepared to be read again and again
        (the wall's grid colours: :class:`gridpulse.views.CounterReader`)."""
        reader = self.live.reader([f"{COVERAGE_FIELD[window]}|{c}" for c in codes], GPS)
        households = [self.households_of(c) for c in codes]
        return lambda: _shares(codes, reader.read(), households)

    def by_area(self, what: str, codes: list[str]) -> dict[str, int]:
        """A current visit counter (``wact``, ``wsil``, ``woff``) of many areas at once."""
        return dict(zip(codes, self.counters([f"{what}|{c}" for c in codes])))

    def silent_grids(self, codes: list[str]) -> dict[str, int]:
        """Silent grids per area (from the derived view; 0 before its first scan)."""
        vals = self.r.hmget(self.k.silent(), [f"sgrid|{c}" for c in codes])
        return {c: int(v or 0) for c, v in zip(codes, vals)}

    def days(self, day: int) -> dict[str, dict]:
        """Terminal id -> summary of its day ``day`` (worker, grid, distance, visits...)."""
        return {t.decode(): _json.decode(v) for t, v in self.r.hgetall(self.k.wday(day)).items()}

    def terminal_of(self, worker: str, day: int) -> str | None:
        """The terminal a worker carried on ``day`` (None if not seen that day)."""
        for term, s in self.days(day).items():
            if s["worker"] == worker:
                return term
        return None

    def track(self, terminal: str, day: int) -> dict | None:
        """A terminal-day for replay: summary, route ``[[t_ms, lon, lat], ...]`` and stays."""
        pipe = self.r.pipeline(transaction=False)
        pipe.hget(self.k.wday(day), terminal)
        pipe.get(self.k.route(day, terminal))
        pipe.lrange(self.k.visits(day, terminal), 0, -1)
        summ, route, stays = pipe.execute()
        if summ is None:
            return None
        start = day_start_ms(day, self.live.tz)
        return {"summary": _json.decode(summ),
                "route": [list(p) for p in unpack_route(start, route or b"")],
                "stays": [dict(zip(("household", "start", "end", "lon", "lat"), _json.decode(s)))
                          for s in stays]}


def area_households(city) -> dict[str, int]:
    """Households per area code (every level), from the city model's grids."""
    out: dict[str, int] = {}
    for g in city.grids:
        for a in (g.code, g.community, g.town, g.district, city.code):
            out[a] = out.get(a, 0) + g.households
    return out
