"""Fill Redis with a simulated morning, without Kafka, for the dashboard tests.

Redis is filled the way production fills it: simulator messages, encoded for the wire,
through the real CaseProcessor / GpsProcessor and PartitionStore; only Kafka is skipped.
"""

from __future__ import annotations

import asyncio
import zlib
from collections import defaultdict

import redis.asyncio as aioredis

from gridpulse.city import CityModel
from gridpulse.schemas import encode
from producers.simulator import Simulator
from streams.processor import Record
from streams.wiring import make_processors
from gridpulse import settings as settings_mod

PARTITIONS = 4


def fill(url: str, prefix: str, city: CityModel, *, start_ms: int, until_ms: int,
         terminals: int, seed: int = 20261127, tz: str = "Asia/Shanghai") -> dict:
    """Run the simulator from ``start_ms`` to ``until_ms`` into Redis; returns message counts."""
    return asyncio.run(_fill(url, prefix, city, start_ms, until_ms, terminals, seed, tz))


async def _fill(url, prefix, city, start_ms, until_ms, terminals, seed, tz) -> dict:
    r = aioredis.Redis.from_url(url)

    async def dead_sink(letters):  # the simulator only emits valid messages
        raise AssertionError(f"unexpected dead letters: {letters[:3]}")

    async def alert_sink(alerts):  # alerts are not what this fill is for
        pass

    cfg = settings_mod.load({}, redis_prefix=prefix, timezone=tz)
    cases, gps = make_processors(cfg, r, dead_sink, alert_sink)
    procs = {"case-events": cases, "gps-fixes": gps}
    offsets: dict[tuple[str, int], int] = defaultdict(int)
    counts: dict[str, int] = defaultdict(int)
    sim = Simulator(city, seed=seed, start_ms=start_ms, tz=tz, terminals=terminals)
    step = 5 * 60_000
    while sim.now < until_ms:
        batch: dict[str, list[Record]] = defaultdict(list)
        for m in sim.advance(min(until_ms, sim.now + step)):
            # Kafka's default partitioner hashes the key; any stable hash does here.
            p = zlib.crc32(m.key.encode()) % PARTITIONS
            off = offsets[(m.topic, p)]
            offsets[(m.topic, p)] = off + 1
            batch[m.topic].append(Record(p, off, m.key.encode(), encode(m.value)))
            counts[m.topic] += 1
        for topic, recs in batch.items():
            await procs[topic].process(recs)
    await r.aclose()
    return dict(counts)
