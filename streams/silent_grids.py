"""The silent-grid view, rescanned from Redis: every worker may run it, the result is absolute.

It reads the per-grid newest visit (GPS partitions) and newest case (case partitions),
judges every grid of the city at the GPS clock, replaces the ``gp:silent`` hash in one
transaction and sends an alert the first time each silence is seen (a Redis set
remembers which were sent; an alert sent twice has one id, so a race only repeats it).
"""

from __future__ import annotations

from typing import Awaitable, Callable

import redis.asyncio as aioredis

from gridpulse.rkeys import CASE, GPS, Keys
from gridpulse.schemas import Alert
from gridpulse.visits.silence import silent_alert, silent_counts, silent_grids


async def _maxima(r: aioredis.Redis, keys: list[str]) -> dict[str, int]:
    pipe = r.pipeline(transaction=False)
    for k in keys:
        pipe.hgetall(k)
    out: dict[str, int] = {}
    for h in await pipe.execute():
        for g, v in h.items():
            g, v = g.decode(), int(v)
            if v > out.get(g, 0):
                out[g] = v
    return out


async def scan(r: aioredis.Redis, k: Keys, grids: list[str], lineage: Callable, days: int,
               alert_sink: Callable[[list[Alert]], Awaitable[None]] | None = None) -> dict[str, int]:
    """Recompute the silent-grid view; returns grid -> when its silence began."""
    gps_parts = sorted(int(p) for p in await r.smembers(k.parts(GPS)))
    case_parts = sorted(int(p) for p in await r.smembers(k.parts(CASE)))
    if not gps_parts:
        return {}  # no clock yet
    pipe = r.pipeline(transaction=False)
    for p in gps_parts:
        pipe.hmget(k.meta(GPS, p), "wm", "first")
    metas = await pipe.execute()
    now = max(int(w or 0) for w, _ in metas)
    since = min((int(f) for _, f in metas if f), default=now)
    visit = await _maxima(r, [k.lastvisit(p) for p in gps_parts])
    case = await _maxima(r, [k.lastcase(p) for p in case_parts])
    silent = silent_grids(grids, visit, case, since, now, days)
    counts = silent_counts(silent, lineage)
    async with r.pipeline(transaction=True) as tx:
        tx.delete(k.silent())
        tx.hset(k.silent(), mapping={"at": now, **counts})
        await tx.execute()
    if alert_sink is not None and silent:
        ids = {g: f"silent-grid:{g}:{b}" for g, b in silent.items()}
        pipe = r.pipeline(transaction=False)
        for g in silent:
            pipe.sismember(k.silent_alerted(), ids[g])
        seen = await pipe.execute()
        new = [silent_alert(g, silent[g], days, lineage) for g, s in zip(silent, seen) if not s]
        if new:
            await alert_sink(new)  # first sent, then remembered: at least once
            await r.sadd(k.silent_alerted(), *(a.id for a in new))
    return silent
