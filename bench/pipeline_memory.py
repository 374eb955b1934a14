"""bench/pipeline.py --memory: the worker's peak RSS with many open cases and terminals."""

from __future__ import annotations

import asyncio
import random
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from gridpulse.city import load_city  # noqa: E402
from gridpulse.clock import parse_local  # noqa: E402
from gridpulse.schemas import CaseEvent, Fix, GpsBatch, encode  # noqa: E402
from gridpulse.topics import CASE_EVENTS, GPS_FIXES  # noqa: E402
from pipeline_common import (Msg, SEED, START, TZ, Worker, log, make_settings, produce, targets_of,  # noqa: E402
                             vm_hwm_kb, wait_worker)
from pipeline_throughput import _setup_topics  # noqa: E402


def memory(bootstrap: str, redis_url: str, cases: int, terminals: int, timeout: float) -> None:
    """Peak RSS of the worker after 100k open cases and 40k terminal positions."""
    s = make_settings(bootstrap, redis_url, f"mem{uuid.uuid4().hex[:6]}.")
    asyncio.run(_setup_topics(bootstrap, s))
    city = load_city("ningbo")
    grids = [g.code for g in city.grids]
    rng = random.Random(SEED)
    t0 = parse_local(START, TZ)
    msgs: list[Msg] = []
    for i in range(cases):
        g = grids[i % len(grids)]
        lon, lat = city.random_point(g, rng)
        ts = t0 + i * 300  # 100k reports spread over ~8 hours
        case = f"C20261127-{i:07d}"
        ev = CaseEvent(id=f"{case}.0", case=case, type="reported", ts=ts, grid=g,
                       category="sanitation", severity=rng.randint(1, 4), lon=round(lon, 6),
                       lat=round(lat, 6), terminal=f"T{i % 13800:05d}", actor=f"W{i % 40000:05d}")
        msgs.append((CASE_EVENTS, case.encode(), encode(ev), ts))
    for i in range(terminals):
        g = grids[i % len(grids)]
        fixes = []
        for j in range(6):
            lon, lat = city.random_point(g, rng)
            fixes.append(Fix(t0 + j * 10_000, round(lon, 6), round(lat, 6), 8.0))
        tid = f"T{i:05d}"
        b = GpsBatch(id=f"{tid}-{t0}", terminal=tid, worker=f"W{i:05d}", grid=g, fixes=fixes)
        msgs.append((GPS_FIXES, tid.encode(), encode(b), t0))
    log(f"\nmemory: {cases:,} 'reported' case events over {len(grids):,} grids + "
        f"GPS batches of {terminals:,} terminals")
    secs = asyncio.run(produce(bootstrap, s, msgs))
    log(f"produced in {secs:.1f}s")
    targets = asyncio.run(targets_of(bootstrap, s))
    w = Worker(s, "gridpulse-worker-memory")
    try:
        first, done = wait_worker(s, w, targets, timeout)
        hwm, rss = vm_hwm_kb(w.pid())
    finally:
        w.stop()
    n = len(msgs)
    log(f"worker caught up in {done - w.t0:.1f}s (join {first - w.t0:.1f}s; "
        f"{n / (done - first):,.0f} events/s excl. join, case-heavy mix)")
    log(f"worker peak RSS (VmHWM): {hwm / 1024:.0f} MiB; RSS at the end {rss / 1024:.0f} MiB")
    r = redis.Redis.from_url(redis_url)
    log(f"Redis used_memory after the run (all runs' keys so far): "
        f"{r.info('memory')['used_memory'] / 2**20:.0f} MiB")
