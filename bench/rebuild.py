"""How long rebuilding the views from Kafka takes: from the log's start, and from snapshots.

Usage::

    .venv/bin/python bench/rebuild.py                 # 400,000 messages of the whole fleet
    .venv/bin/python bench/rebuild.py --events 100000 # quicker

It starts its own EmbeddedKafka and EmbeddedRedis, produces the first N messages of the
seeded simulator (13,800 terminals from 09:00 city time: GPS batches and case events),
and measures, in this process:

(a) the raw read: the topics read straight from Kafka, nothing applied (the ceiling);
(b) ``gridpulse rebuild --from-scratch`` (streams/rebuild.py): every record applied by the
    workers' processors into fresh keys, then switched in;
(c) snapshots of the rebuilt views: taking the images (Redis MULTI reads), writing them to
    Kafka, reading them back and restoring them into Redis;
(d) ``gridpulse rebuild`` from those snapshots after a tail of M more messages.

and prints records/s and what that makes for a city-day and for 30 days: from scratch,
every record of the period is replayed; from snapshots, the images are restored (their
size grows with the open cases and the terminals, not with the days: see the bounded
memory figures) and only the records since the newest image are replayed. Times are wall
clock on a possibly noisy machine; this script asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import redis.asyncio as aioredis  # noqa: E402

from gridpulse.rkeys import CASE, GPS, Keys  # noqa: E402
from gridpulse.runtime.broker import EmbeddedKafka, create_topics  # noqa: E402
from gridpulse.runtime.redis_server import EmbeddedRedis  # noqa: E402
from gridpulse.topics import CASE_EVENTS, GPS_FIXES, SNAPSHOT_MANIFESTS, SNAPSHOTS, names  # noqa: E402
from pipeline_common import log, make_settings, mix, produce, simulated  # noqa: E402
from streams import snapshot_image  # noqa: E402
from streams.log_reader import LogReader  # noqa: E402
from streams.rebuild import rebuild  # noqa: E402
from streams.snapshots import SnapshotStore  # noqa: E402

#: Ningbo's load model: GPS batches (13,800 terminals, one upload a minute over 9 duty
#: hours) and case events (~15,000 cases a day, ~8 events each) in a city-day.
CITY_DAY_GPS = 13_800 * 60 * 9
CITY_DAY_CASES = 15_000 * 8


def cpu() -> float:
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


async def raw_read(s) -> tuple[int, float, float]:
    n, t0, c0 = 0, time.perf_counter(), cpu()
    for topic in (CASE_EVENTS, GPS_FIXES):
        reader = LogReader(s.kafka_bootstrap, s.topic(topic))
        try:
            for p in range(s.partitions):
                first, end = await reader.bounds(p)
                async for chunk in reader.read(p, first, end):
                    n += len(chunk)
        finally:
            await reader.stop()
    return n, time.perf_counter() - t0, cpu() - c0


async def snapshots_round(s) -> dict:
    r = aioredis.Redis.from_url(s.redis_url)
    k = Keys(s.redis_prefix)
    store = SnapshotStore(s.kafka_bootstrap, s.topic(SNAPSHOTS), s.topic(SNAPSHOT_MANIFESTS), s.partitions)
    store.manifests = {}
    out = {"take": 0.0, "save": 0.0, "load": 0.0, "restore": 0.0, "bytes": 0, "images": 0}
    other = Keys(s.redis_prefix + "restored:")
    try:
        for kind in (CASE, GPS):
            for p in range(s.partitions):
                t = time.perf_counter()
                image = await snapshot_image.take(r, k, kind, p, s.timezone, s.snapshot_days)
                out["take"] += time.perf_counter() - t
                if image is None:
                    continue
                t = time.perf_counter()
                m = await store.save(image)
                out["save"] += time.perf_counter() - t
                t = time.perf_counter()
                back = await store.load(m)
                out["load"] += time.perf_counter() - t
                t = time.perf_counter()
                await snapshot_image.restore(r, other, back)
                out["restore"] += time.perf_counter() - t
                out["bytes"] += m.bytes
                out["images"] += 1
    finally:
        await store.stop()
        await r.aclose()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=400_000)
    ap.add_argument("--tail", type=int, default=40_000, help="messages after the snapshots")
    args = ap.parse_args()
    msgs = simulated(args.events + args.tail)
    head, tail = msgs[:args.events], msgs[args.events:]
    log(f"{len(head):,} messages ({mix(head)}), then a tail of {len(tail):,}")
    with EmbeddedKafka() as broker, EmbeddedRedis() as server:
        s = make_settings(broker.bootstrap, server.url, "rb.").replace(snapshot_days=2)
        create_topics(broker.bootstrap, list(names(s).values()), s.partitions)
        log(f"produced in {asyncio.run(produce(broker.bootstrap, s, head)):.1f} s")

        n, wall, cpu_s = asyncio.run(raw_read(s))
        log(f"(a) raw read:          {n:>9,} records in {wall:6.1f} s ({n / wall:>9,.0f}/s, {n / cpu_s:>9,.0f} per CPU-s)")
        c0, t0 = cpu(), time.perf_counter()
        asyncio.run(rebuild(s, broker.bootstrap, server.url, use_snapshots=False, say=lambda m: None))
        wall_b, cpu_b = time.perf_counter() - t0, cpu() - c0
        log(f"(b) rebuild, scratch:  {n:>9,} records in {wall_b:6.1f} s ({n / wall_b:>9,.0f}/s, {n / cpu_b:>9,.0f} per CPU-s)")

        snap = asyncio.run(snapshots_round(s))
        log(f"(c) snapshots: {snap['images']} images, {snap['bytes'] / 1e6:.1f} MB: take {snap['take']:.2f} s, "
            f"write {snap['save']:.2f} s, read {snap['load']:.2f} s, restore {snap['restore']:.2f} s")

        asyncio.run(produce(broker.bootstrap, s, tail))
        t0 = time.perf_counter()
        asyncio.run(rebuild(s, broker.bootstrap, server.url, use_snapshots=True, say=lambda m: None))
        wall_d = time.perf_counter() - t0
        log(f"(d) rebuild from the snapshots and a tail of {len(tail):,}: {wall_d:.1f} s")

        rate = n / wall_b
        day = CITY_DAY_GPS + CITY_DAY_CASES
        restore = snap["load"] + snap["restore"]
        log("")
        log(f"from scratch, at (b)'s {rate:,.0f} records/s: a city-day ({day:,} records) "
            f"{day / rate / 60:,.0f} min; 30 days {30 * day / rate / 3600:,.1f} h")
        log(f"from snapshots: restoring these images took {restore:.1f} s for {snap['bytes'] / 1e6:.1f} MB; "
            f"then the records since the newest image: at most {600 * day / (9 * 3600):,.0f} "
            f"(GRIDPULSE_SNAPSHOT_S=600 of a duty hour's traffic) = "
            f"{600 * day / (9 * 3600) / rate:.0f} s")


if __name__ == "__main__":
    main()
