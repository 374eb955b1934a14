"""The notifier's clock: an event time by which every alert up to it has been written.

The worker writes an alert once its case partition's watermark is the allowed lateness
past the alert's moment, and has it acknowledged by Kafka before it saves that watermark
(docs/contract.md, ``alerts``). So once every case partition's watermark is at ``W``,
every case alert dated up to ``W - lateness`` is on the topic: that is the notifier's
``now``, and a flush at an event time up to it can be decided for good (groups.py).

Two refinements. Without any case partition (no worker yet, or alerts written by
another system) the newest alert's time minus the lateness stands for it. And while the
city is live (that time within ``live_window`` of the wall clock), a quiet city's clock
follows the wall clock, minus the lateness: an alert is then told ``group_wait`` after
it was written even when no later event comes. A replayed past day is never live, so
its notifications are decided on event time alone.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from gridpulse.rkeys import Keys


def event_clock(case_wms: list[int], newest_alert: int, lateness_ms: int, wall: int,
                live_window_ms: int, prev: int = 0) -> int:
    """The notifier's ``now`` (never going back from ``prev``)."""
    base = (min(case_wms) if case_wms else newest_alert) - lateness_ms
    if not case_wms and not newest_alert:
        base = 0
    if base and base >= wall - lateness_ms - live_window_ms:
        base = max(base, wall - lateness_ms)
    return max(prev, base)


async def case_watermarks(r: aioredis.Redis, keys: Keys) -> list[int]:
    """The ``wm`` of every case partition that has a projection."""
    parts = sorted(int(p) for p in await r.smembers(keys.parts("case")))
    if not parts:
        return []
    pipe = r.pipeline(transaction=False)
    for p in parts:
        pipe.hget(keys.meta("case", p), "wm")
    return [int(v) for v in await pipe.execute() if v is not None]
