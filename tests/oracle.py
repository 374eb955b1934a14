"""The batch oracle: a plain, obviously-correct recomputation of the live views from a log.

It shares nothing with streams/ but the wire schemas and the city model: it sorts each
case's events, takes the last one, and counts. The streaming result must equal it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from zoneinfo import ZoneInfo
from datetime import datetime, timezone

from gridpulse.schemas import STAGES, CaseEvent, GpsBatch

TERMINAL = {"closed", "evaluated"}


def _lineage(city, grid):
    g = city.grid(grid)
    return [g.code, g.community, g.town, g.district, city.code]


def _local_day(ts, tz):
    d = datetime.fromtimestamp(ts / 1000, tz=timezone.utc).astimezone(ZoneInfo(tz)).date()
    return (d - datetime(1970, 1, 1).date()).days


def case_views(city, events: list[CaseEvent], tz: str) -> dict:
    """open per area, reported per area and local day, reported per district/city minute."""
    by_case = defaultdict(dict)
    for ev in events:
        by_case[ev.case][ev.id] = ev  # the same id twice is one event
    open_, day, minute = Counter(), Counter(), Counter()
    for evs in by_case.values():
        hist = sorted(evs.values(), key=lambda e: (e.ts, STAGES.index(e.type), e.id))
        reports = [e for e in hist if e.type == "reported"]
        where = reports[0].grid if reports else hist[0].grid
        if hist[-1].type not in TERMINAL:
            for a in _lineage(city, where):
                open_[a] += 1
        if reports:
            r = reports[0]
            for a in _lineage(city, r.grid):
                day[(a, _local_day(r.ts, tz))] += 1
            for a in _lineage(city, r.grid)[3:]:
                minute[(a, r.ts // 60_000)] += 1
    wm = max(e.ts for e in events) if events else 0
    return {"open": open_, "day": day, "minute": minute, "watermark": wm}


def positions(batches: list[GpsBatch]) -> dict[str, tuple]:
    """Latest fix per terminal: greatest time, ties broken by position."""
    out = {}
    for b in batches:
        for f in b.fixes:
            cand = (f.ts, f.lon, f.lat, b.grid, b.worker)
            if b.terminal not in out or out[b.terminal][:3] < cand[:3]:
                out[b.terminal] = cand
    return out
