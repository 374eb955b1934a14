"""The silent-grid view on a real Redis: judged from both streams' maxima, alerted once."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis.asyncio as aioredis

from gridpulse.clock import DAY_MS
from gridpulse.rkeys import Keys
from streams.silent_grids import scan

pytestmark = pytest.mark.integration

LIN = {g: (g, "C1", "T1", "D1", "X") for g in ("G1", "G2", "G3", "G4")}


def test_scan_judges_every_grid_and_alerts_each_silence_once(redis_url):
    k = Keys(f"t{uuid.uuid4().hex[:8]}:")
    t0 = 1_795_000_000_000
    now = t0 + 5 * DAY_MS

    async def go():
        r = aioredis.Redis.from_url(redis_url)
        sent = []

        async def sink(alerts):
            sent.extend(alerts)

        await r.sadd(k.parts("gps"), 0, 1)
        await r.sadd(k.parts("case"), 0)
        await r.hset(k.meta("gps", 0), mapping={"wm": now, "first": t0})
        await r.hset(k.meta("gps", 1), mapping={"wm": now - 1000, "first": t0 + 1000})
        await r.hset(k.lastvisit(0), mapping={"G1": now - DAY_MS})  # visited yesterday
        await r.hset(k.lastvisit(1), mapping={"G2": now - 4 * DAY_MS})  # too long ago...
        await r.hset(k.lastcase(0), mapping={"G2": now - 2 * DAY_MS,  # ...but a case since
                                             "G3": now - 3 * DAY_MS - 1})
        first = await scan(r, k, sorted(LIN), LIN.__getitem__, 3, sink)
        again = await scan(r, k, sorted(LIN), LIN.__getitem__, 3, sink)
        view = {kk.decode(): int(v) for kk, v in (await r.hgetall(k.silent())).items()}
        async for key in r.scan_iter(k.pattern()):
            await r.delete(key)
        await r.aclose()
        return first, again, view, sent

    first, again, view, sent = asyncio.run(go())
    assert first == again == {"G3": now - 3 * DAY_MS - 1, "G4": t0}
    assert view == {"at": now, "sgrid|G3": 1, "sgrid|G4": 1, "sgrid|C1": 2, "sgrid|T1": 2,
                    "sgrid|D1": 2, "sgrid|X": 2}
    assert sorted(a.id for a in sent) == [f"silent-grid:G3:{now - 3 * DAY_MS - 1}", f"silent-grid:G4:{t0}"]
    assert all(a.kind == "silent_grid" and a.district == "D1" for a in sent)
