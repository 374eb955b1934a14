"""Read side of the alerts board (``streams/alert_view.py`` writes it).

An alert is *resolved* when its case got a ``resolved`` alert at or after it, and
*acknowledged* when someone acknowledged it (who, when, comment; acknowledgements travel
through Kafka like everything else, so every screen sees the same ones).
"""

from __future__ import annotations

import msgspec
import redis

from .freshness import CASE, Freshness
from .rkeys import Keys

_json = msgspec.json.Decoder()
AREA_FIELDS = ("grid", "community", "town", "district", "city")


class AlertBoard:
    """The newest alerts with their acknowledgements and resolution."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.r, self.k = client, keys

    def _expand(self, ids: list[bytes]) -> list[dict]:
        if not ids:
            return []
        pipe = self.r.pipeline(transaction=False)
        pipe.hmget(self.k.alert_info(), ids)
        for i in ids:
            pipe.hgetall(self.k.alert_acks(i.decode()))
        infos, *acks = pipe.execute()
        alerts = [(_json.decode(raw), a) for raw, a in zip(infos, acks) if raw is not None]
        cases = sorted({a["case"] for a, _ in alerts if a.get("case")})
        resolved = dict(zip(cases, self.r.zmscore(self.k.alert_resolved(), cases))) if cases else {}
        out = []
        for a, ack in alerts:
            r_at = resolved.get(a.get("case"))
            a["resolved"] = a["kind"] != "resolved" and r_at is not None and r_at >= a["ts"]
            a["acks"] = sorted((_json.decode(v) for v in ack.values()), key=lambda x: (x["at"], x["id"]))
            a["status"] = ("resolved" if a["resolved"] or a["kind"] == "resolved"
                           else "acked" if a["acks"] else "open")
            out.append(a)
        return out

    def known(self, fresh: Freshness) -> bool:
        """Whether the board can be shown as it is: it holds alerts, or the case views
        are whole (an empty board next to missing views may be a flushed one, not a
        quiet day)."""
        return fresh.has(CASE) or self.r.zcard(self.k.alert_ts()) > 0

    def get(self, alert_id: str) -> dict | None:
        """One alert with its acknowledgements, or None if not on the board."""
        got = self._expand([alert_id.encode()])
        return got[0] if got else None

    def latest(self, limit: int = 50, area: str | None = None, kinds: set[str] | None = None,
               status: str | None = None) -> list[dict]:
        """Newest first, filtered by area code (any level), kinds and status."""
        out, start, page = [], 0, max(limit * 4, 200)
        while len(out) < limit:
            ids = self.r.zrevrange(self.k.alert_ts(), start, start + page - 1)
            if not ids:
                break
            for a in self._expand(ids):
                if area and area not in (a.get(f) for f in AREA_FIELDS):
                    continue
                if kinds and a["kind"] not in kinds:
                    continue
                if status and a["status"] != status:
                    continue
                out.append(a)
            start += page
        return out[:limit]
