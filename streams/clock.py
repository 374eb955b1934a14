"""The city clock: brings a quiet case partition's "now" up to the others' with ticks.

Each case partition judges its clocks at its own watermark, the newest event time it
applied. A partition that receives nothing for a while (few cases hash to it, or its
producer is quiet) would otherwise stand still, and its overdue counts with it, while
the rest of the city moves on. So a worker reads every case partition's watermark from
Redis, and writes a :class:`~gridpulse.schemas.Tick` carrying the greatest of them (the
city clock) to each partition it owns that is behind.

The tick is a record in the partition's own log, after everything already in it: a
partition with a backlog reaches the tick only once the backlog is applied, so a tick
never jumps a partition past events it has not seen yet, and the log alone still
determines every figure (the oracle applies the ticks it reads like the worker does).
"""

from __future__ import annotations

import redis.asyncio as aioredis

from gridpulse.rkeys import CASE, Keys


async def watermarks(r: aioredis.Redis, keys: Keys) -> dict[int, tuple[int, int]]:
    """Every case partition's ``(watermark, newest record timestamp)`` as saved in Redis."""
    parts = sorted(int(p) for p in await r.smembers(keys.parts(CASE)))
    if not parts:
        return {}
    pipe = r.pipeline(transaction=False)
    for p in parts:
        pipe.hmget(keys.meta(CASE, p), "wm", "rt")
    return {p: (int(w), int(rt or 0)) for p, (w, rt) in zip(parts, await pipe.execute()) if w is not None}


def city_clock(wms: dict[int, tuple[int, int]]) -> int:
    """The newest watermark of all partitions, but never past the newest record timestamp.

    An event may be dated up to ``GRIDPULSE_CLOCK_AHEAD_S`` after its record (a terminal
    clock a little fast); it moves its own partition that far, but the city clock stays
    at what the broker has received, so the ticks do not carry one fast clock to every
    partition and make everyone else's events late.
    """
    newest = max((w for w, _ in wms.values()), default=0)
    received = max((rt for _, rt in wms.values()), default=0)
    return min(newest, received) if received else newest


def behind(wms: dict[int, tuple[int, int]], owned: set[int]) -> tuple[int, list[int]]:
    """The city clock, and the partitions of ``owned`` whose watermark is behind it."""
    city = city_clock(wms)
    return city, sorted(p for p in owned if p in wms and wms[p][0] < city)
