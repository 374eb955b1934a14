"""Read the live views from Redis, merging the per-partition projections.

Used by the dashboard, the CLI and the tests: the one place that knows how partition
projections add up to citywide figures (DESIGN.md, principle 5).
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
import redis

from .clock import local_day, minute
from .rkeys import CASE, GPS, Keys

_json = msgspec.json.Decoder()


@dataclass(frozen=True)
class Kpis:
    """Case KPIs of one area at the event-time watermark."""

    code: str
    watermark: int  # event time the figures reflect (epoch ms), 0 if no data yet
    open: int
    new_today: int
    new_last_hour: int
    per_minute: list[int]  # last ``minutes`` minutes, oldest first (districts and city)


class LiveView:
    """Merged, read-only access to the live projections."""

    def __init__(self, client: redis.Redis, keys: Keys, tz: str) -> None:
        self.r = client
        self.k = keys
        self.tz = tz

    @classmethod
    def from_url(cls, url: str, prefix: str, tz: str) -> "LiveView":
        """A view on the Redis at ``url``."""
        return cls(redis.Redis.from_url(url), Keys(prefix), tz)

    def partitions(self, kind: str) -> list[int]:
        """Partitions of ``kind`` (``case`` or ``gps``) that have a projection."""
        return sorted(int(p) for p in self.r.smembers(self.k.parts(kind)))

    def watermarks(self) -> dict[str, int]:
        """Max event time per stream kind; ``now`` for the views is their max."""
        out = {}
        for kind in (CASE, GPS):
            parts = self.partitions(kind)
            pipe = self.r.pipeline(transaction=False)
            for p in parts:
                pipe.hget(self.k.meta(kind, p), "wm")
            out[kind] = max((int(w) for w in pipe.execute() if w is not None), default=0)
        return out

    def watermark(self) -> int:
        """The event-time clock of the views: the newest event time applied."""
        return max(self.watermarks().values())

    def kpis(self, code: str, minutes: int = 60, now: int | None = None) -> Kpis:
        """KPIs of area ``code`` at event time ``now`` (default: the watermark)."""
        wm = self.watermark() if now is None else now
        parts = self.partitions(CASE)
        day = local_day(wm, self.tz) if wm else 0
        m_now = minute(wm)
        mins = [f"{code}|{m}" for m in range(m_now - minutes + 1, m_now + 1)]
        pipe = self.r.pipeline(transaction=False)
        for p in parts:
            pipe.hget(self.k.open(p), code)
            pipe.hget(self.k.new_day(p), f"{code}|{day}")
            pipe.hmget(self.k.new_min(p), mins)
        res = pipe.execute()
        open_ = today = 0
        series = [0] * minutes
        for i in range(len(parts)):
            o, d, ms = res[3 * i: 3 * i + 3]
            open_ += int(o or 0)
            today += int(d or 0)
            for j, v in enumerate(ms):
                series[j] += int(v or 0)
        return Kpis(code, wm, open_, today, sum(series[-60:]), series)

    def open_by_area(self, codes: list[str]) -> dict[str, int]:
        """Open cases of many areas at once (e.g. every district, or every grid)."""
        parts = self.partitions(CASE)
        pipe = self.r.pipeline(transaction=False)
        for p in parts:
            pipe.hmget(self.k.open(p), codes)
        total = dict.fromkeys(codes, 0)
        for vals in pipe.execute():
            for c, v in zip(codes, vals):
                if v:
                    total[c] += int(v)
        return total

    def recent_cases(self, limit: int = 20, since: int | None = None) -> list[dict]:
        """Newest reported cases first (``since``: report time lower bound, epoch ms)."""
        parts = self.partitions(CASE)
        pipe = self.r.pipeline(transaction=False)
        lo = since if since is not None else "-inf"
        for p in parts:
            if since is None:
                pipe.zrevrange(self.k.recent(p), 0, limit - 1, withscores=True)
            else:
                pipe.zrevrangebyscore(self.k.recent(p), "+inf", lo, withscores=True)
        ranked = []
        for p, items in zip(parts, pipe.execute()):
            ranked.extend((score, case.decode(), p) for case, score in items)
        ranked.sort(reverse=True)
        if since is None:
            ranked = ranked[:limit]
        pipe = self.r.pipeline(transaction=False)
        for _, case, p in ranked:
            pipe.hget(self.k.recent_info(p), case)
        return [_json.decode(raw) for raw in pipe.execute() if raw is not None]

    def positions(self, active_ms: int, now: int | None = None) -> list[list]:
        """Latest ``[terminal, lon, lat, ts, grid, worker]`` of terminals active within ``active_ms``."""
        wm = self.watermarks()[GPS] if now is None else now
        parts = self.partitions(GPS)
        pipe = self.r.pipeline(transaction=False)
        for p in parts:
            pipe.hgetall(self.k.positions(p))
        out = []
        for raw in pipe.execute():
            for term, val in raw.items():
                ts, lon, lat, grid, worker = _json.decode(val)
                if ts >= wm - active_ms:
                    out.append([term.decode(), lon, lat, ts, grid, worker])
        return out
