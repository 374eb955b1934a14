"""30 simulated days at Ningbo's case volume: does the case projection stay bounded?

Usage::

    .venv/bin/python bench/archive_days.py              # 30 days, 15,000 cases a day
    .venv/bin/python bench/archive_days.py --days 8     # quicker
    .venv/bin/python bench/archive_days.py --keep 2 --kpi-days 3   # with a counter horizon

Each mode runs in a child process of its own (so each RSS is its own), against one
real redis-server this script starts:

- ``keep=0``: nothing archived (the projection before archiving existed: the baseline);
- ``keep=2``: cases archived 2 days after they settle (GRIDPULSE_CASE_KEEP_DAYS=2);
- ``keep=7``: the default.

``--kpi-days N`` holds N days of per-day counters in every mode (GRIDPULSE_KPI_DAYS; the
setting's minimum is 32, more than these runs last, so a bench shows the effect with less;
0, the default here: all days are held).

A child applies the seeded simulator's case events (no GPS: terminals are a fixed
population, their state does not grow with days) to every case partition as the worker
does: per record, then per batch of 2,000 records the deadline index, archiving, and a
fenced flush to Redis through streams/redis_store.py. At each simulated midnight it
prints its RSS, the Redis memory of its keys' database, how many case records the
partitions hold, and how long reloading every partition from Redis takes in a fresh
process, with that process's RSS once loaded (what a restarted worker does; the running
child's RSS is then not the sum of two copies). The parent prints each mode's day-3 -> last-day ratios. Wall
clock on a possibly noisy machine; nothing is asserted here (the unit and integration
tests prove the figures stay exact). The parent's ratios compare the last day with day
keep + 3, the first with archiving in its steady state.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DAY = 86_400_000
TZ = "Asia/Shanghai"
START = "2026-11-02T00:00:00"  # a Monday
BATCH = 2000


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 1e6


def _store(redis_url: str, keep_days: int, kpi_days: int):
    """The child's Redis client, store and partition factory (the same in a reload)."""
    import redis.asyncio as aioredis

    from gridpulse.city import load_city
    from gridpulse.loop.facts import Rules
    from gridpulse.rkeys import Keys
    from streams.case_state import CasePartition
    from streams.redis_store import PartitionStore
    from streams.wiring import lineages

    city = load_city("ningbo")
    lin, rules = lineages(city), Rules.load("", "", TZ)
    r = aioredis.Redis.from_url(redis_url)

    def new_case(p: int) -> CasePartition:
        return CasePartition(p, lin.__getitem__, rules, 60_000, keep_ms=keep_days * DAY,
                             kpi_days=kpi_days)

    return city, r, PartitionStore(r, Keys(f"arch{keep_days}:"), new_case), new_case


async def reload(redis_url: str, keep_days: int, partitions: int, kpi_days: int) -> None:
    """A restarted worker's load of every partition: its time, and the RSS it ends with."""
    _, r, store, _ = _store(redis_url, keep_days, kpi_days)
    t = time.perf_counter()
    loaded = [await store.load_case(p) for p in range(partitions)]
    reload_s = time.perf_counter() - t
    print(json.dumps({"reload_s": round(reload_s, 2), "rss_mb": round(rss_mb(), 1),
                      "cases": sum(len(st.cases) for st in loaded)}), flush=True)
    await r.aclose()


async def child(redis_url: str, keep_days: int, days: int, cases_per_day: int, partitions: int,
                kpi_days: int) -> None:
    from gridpulse.clock import parse_local
    from producers.simulator import Simulator
    from tests.oracle import partition_of

    city, r, store, new_case = _store(redis_url, keep_days, kpi_days)
    await r.flushdb()
    keys = store.k
    parts = {p: new_case(p) for p in range(partitions)}
    for st in parts.values():
        st.persisted_offset = -1
    offsets = defaultdict(int)
    t0 = parse_local(START, TZ)
    sim = Simulator(city, seed=7, start_ms=t0, tz=TZ, terminals=1, cases_per_day=cases_per_day)
    touched: set[int] = set()

    async def end_batch() -> None:
        """What the worker does after a batch: deadlines, archiving, the horizon, a flush."""
        for q in touched:
            parts[q].advance()
            parts[q].archive()
            parts[q].expire_days()
            await store.flush_case(parts[q])
        touched.clear()
    applied = 0
    started = time.perf_counter()
    for day in range(1, days + 1):
        for m in sim.advance(t0 + day * DAY):
            if m.topic != "case-events":
                continue
            p = partition_of(m.value.case, partitions)
            st = parts[p]
            before = st.watermark
            st.apply(m.value, offsets[p])
            offsets[p] += 1
            if st.watermark > before:
                st.advance()
            touched.add(p)
            applied += 1
            if applied % BATCH == 0:
                await end_batch()
        await end_batch()
        info = await r.info("memory")
        restarted = subprocess.run([sys.executable, __file__, "--partitions", str(partitions),
                                    "--kpi-days", str(kpi_days), "--reload", redis_url, str(keep_days)],
                                   capture_output=True, text=True)
        if restarted.returncode:
            sys.exit(f"the reload failed:\n{restarted.stderr}")
        after = json.loads(restarted.stdout)
        assert after["cases"] == sum(len(st.cases) for st in parts.values()), after
        print(json.dumps({"day": day, "rss_mb": round(rss_mb(), 1), "restarted_mb": after["rss_mb"],
                          "redis_mb": round(info["used_memory"] / 1e6, 1),
                          "cases": sum(len(st.cases) for st in parts.values()),
                          "archived": sum(st.archived for st in parts.values()),
                          "kpi_keys": sum([await r.hlen(keys.kpi(p)) for p in range(partitions)]),
                          "reload_s": after["reload_s"], "events": applied,
                          "elapsed_s": round(time.perf_counter() - started, 1)}), flush=True)
    await r.flushdb()
    await r.aclose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--cases-per-day", type=int, default=15_000)
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument("--keep", type=int, nargs="*", default=[0, 2, 7])
    ap.add_argument("--kpi-days", type=int, default=0)
    ap.add_argument("--child", nargs=2, metavar=("REDIS_URL", "KEEP_DAYS"))
    ap.add_argument("--reload", nargs=2, metavar=("REDIS_URL", "KEEP_DAYS"))
    a = ap.parse_args()
    if a.reload:
        asyncio.run(reload(a.reload[0], int(a.reload[1]), a.partitions, a.kpi_days))
        return
    if a.child:
        asyncio.run(child(a.child[0], int(a.child[1]), a.days, a.cases_per_day, a.partitions, a.kpi_days))
        return
    from gridpulse.runtime.redis_server import EmbeddedRedis
    print(f"{a.days} simulated days, {a.cases_per_day:,} cases a day, {a.partitions} case partitions, "
          f"per-day counters held {a.kpi_days or 'all'} days")
    results = {}
    with EmbeddedRedis() as server:
        for keep in a.keep:
            print(f"\n== GRIDPULSE_CASE_KEEP_DAYS={keep}" + (" (never archive: the baseline)" if keep == 0 else ""))
            print(f"{'day':>4} {'RSS MB':>8} {'Redis MB':>9} {'cases held':>11} {'archived':>9} "
                  f"{'kpi keys':>9} {'reload s':>9} {'restarted RSS MB':>17}")
            rows = []
            proc = subprocess.Popen([sys.executable, __file__, "--days", str(a.days), "--cases-per-day",
                                     str(a.cases_per_day), "--partitions", str(a.partitions),
                                     "--kpi-days", str(a.kpi_days),
                                     "--child", server.url, str(keep)], stdout=subprocess.PIPE, text=True)
            for line in proc.stdout:
                row = json.loads(line)
                rows.append(row)
                print(f"{row['day']:>4} {row['rss_mb']:>8} {row['redis_mb']:>9} {row['cases']:>11,} "
                      f"{row['archived']:>9,} {row['kpi_keys']:>9,} {row['reload_s']:>9} "
                      f"{row['restarted_mb']:>17}")
            proc.wait()
            results[keep] = rows
    print("\nlast day / day keep+3, when archiving has reached its steady state (day 3 without; 1.00: flat)")
    for keep, rows in results.items():
        ref = (keep + 3) if keep else 3
        if len(rows) < ref:
            continue
        d3, last = rows[ref - 1], rows[-1]
        print(f"  keep={keep}: RSS x{last['rss_mb'] / d3['rss_mb']:.2f}, Redis x{last['redis_mb'] / d3['redis_mb']:.2f}, "
              f"cases held x{last['cases'] / max(1, d3['cases']):.2f}, reload x{last['reload_s'] / max(0.01, d3['reload_s']):.2f}, "
              f"restarted RSS x{last['restarted_mb'] / d3['restarted_mb']:.2f}"
              f"  ({last['events']:,} events in {last['elapsed_s']:.0f} s)")


if __name__ == "__main__":
    main()
