"""bench/gps.py --memory and --redis-day: worker state per terminal (in a subprocess,
RSS and deep sizes by component) and Redis bytes per terminal-day."""

from __future__ import annotations

import asyncio
import collections
import gc
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


from gridpulse import settings as settings_mod  # noqa: E402
from gps_common import (PARTITIONS, deep_size, ensure_log, gps_processor, hh_source,  # noqa: E402
                        households_store, load_log, log, make_settings, n_fixes,
                        offsets_in_memory, partition_of, read_chunks, redis_sizes,
                        redis_state_per_terminal, rss_kb)
from gps_throughput import memory_processor, pure  # noqa: E402


# --------------------------------------------------------------------------- memory


def memory_child(terminals: int, path: Path, batch: int) -> dict:
    """Build the worker's GPS state for ``terminals`` from the log at ``path``; measure it."""
    from gridpulse.city import load_city
    from streams.gps_state import GpsPartition
    from streams.wiring import lineages, visit_rules

    city = load_city("ningbo")
    s = settings_mod.load({})
    rules, lin = visit_rules(s), lineages(city)
    parts = {p: GpsPartition(p, lin.__getitem__, rules, hh_source(city), city.contains)
             for p in range(PARTITIONS)}
    city.contains(city.grids[0].code, 0.0, 0.0)
    gc.collect()
    rss0 = rss_kb()
    nxt = collections.Counter()
    t0 = time.perf_counter()
    nb = 0
    from streams.processor import Record
    pend: list = []
    for chunk in read_chunks(path):
        for ts, key, value in chunk:
            p = partition_of(key)
            pend.append(Record(p, nxt[p], key, value))
            nxt[p] += 1
        while len(pend) >= batch:
            pure(parts, pend[:batch], 0, batch, "")
            nb += batch
            del pend[:batch]
    pure(parts, pend, 0, batch, "")
    nb += len(pend)
    del pend, chunk
    secs = time.perf_counter() - t0
    gc.collect()
    rss1 = rss_kb()
    seen: set[int] = set()
    for lst in lin.values():  # the lineage strings belong to the city model
        seen.update(id(x) for x in lst)
        seen.add(id(lst))
    comp: dict[str, int] = collections.Counter()
    pending = buf = 0
    n_pend = n_buf = 0
    for st in parts.values():
        for t in st.terms.values():
            pending += deep_size(t.pending, seen)
            buf += deep_size(t.buf, seen) + deep_size(t.lock, seen)
            n_pend += len(t.pending)
            n_buf += len(t.buf)
        comp["terms: Terminal structs without pending/buf"] += deep_size(st.terms, seen)
        comp["positions (latest fix per terminal)"] += deep_size(st.positions, seen)
        comp["t_contrib (counter keys per terminal)"] += deep_size(st.t_contrib, seen)
        comp["wake-up heap + _due"] += deep_size(st._heap, seen) + deep_size(st._due, seen)
        comp["cov + lastvisit + g_contrib (per grid)"] += (deep_size(st.cov, seen) + deep_size(st.lastvisit, seen)
                                                           + deep_size(st.g_contrib, seen))
        comp["counters"] += deep_size(st.counters, seen)
    comp["terms: pending fixes (within the lateness window)"] = pending
    comp["terms: stay-finder buffers (buf, lock)"] = buf
    grids = sum(len(st.cov) for st in parts.values())
    terms = sum(len(st.terms) for st in parts.values())
    hh = households_store(city)
    return {"terminals": terms, "batches": nb, "secs": secs, "rss0_kb": rss0, "rss1_kb": rss1,
            "components": dict(comp), "grids_with_visit": grids, "pending_per_term": n_pend / terms,
            "buf_per_term": n_buf / terms, "hh": {k: v for k, v in hh.items() if k != "info"},
            "grids_total": len(city.grids)}


def memory(args) -> None:
    sizes = [int(x) for x in args.memory_terminals.split(",")]
    start, minutes = args.memory_start, args.memory_minutes
    batch = args.batch or settings_mod.load().batch_max
    log(f"memory: GPS state of one worker process owning all {PARTITIONS} partitions, built from "
        f"{minutes} simulated minutes from {start} (every terminal mid-track at the end)")
    res = []
    for n in sizes:
        path = ensure_log(n, start, minutes)
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, str(ROOT / "bench" / "gps.py"), "--_memory-child", str(n), str(path), str(batch)],
                             capture_output=True, text=True, cwd=ROOT)
        if out.returncode:
            raise RuntimeError(out.stderr[-3000:])
        r = json.loads(out.stdout.strip().splitlines()[-1])
        res.append(r)
        comp = r["components"]
        total = sum(comp.values())
        log(f"\n{r['terminals']:,} terminals: {r['batches']:,} batches applied in {r['secs']:.0f}s "
            f"(child {time.perf_counter() - t0:.0f}s); RSS {r['rss0_kb'] / 1024:.0f} -> "
            f"{r['rss1_kb'] / 1024:.0f} MiB (+{(r['rss1_kb'] - r['rss0_kb']) / 1024:.0f} MiB)")
        h = r["hh"]
        log(f"  {r['pending_per_term']:.1f} pending fixes and {r['buf_per_term']:.1f} stay-finder fixes "
            f"per terminal; {r['grids_with_visit']:,} grids with a visit; households: {h['kind']}, "
            f"{h['grids']:,} grids x {h['bytes'] / max(1, h['grids']) / 1024:.1f} KiB")
        log(f"  {'component (deep sys.getsizeof, shared objects once)':<54} {'MiB':>7} {'bytes/terminal':>15}")
        for k, v in sorted(comp.items(), key=lambda kv: -kv[1]):
            log(f"  {k:<54} {v / 2**20:>7.1f} {v / r['terminals']:>15,.0f}")
        hh = h["bytes"]
        log(f"  {'households for the stays (city model, shared)':<54} {hh / 2**20:>7.1f}")
        log(f"  {'sum':<54} {(total + hh) / 2**20:>7.1f}   vs RSS delta "
            f"{(r['rss1_kb'] - r['rss0_kb']) / 1024:.1f} MiB")
    # Extrapolation: per-terminal components x terminals, per-grid components x grids.
    r = res[-1]
    comp = r["components"]
    per_grid_key = "cov + lastvisit + g_contrib (per grid)"
    per_term = sum(v for k, v in comp.items() if k not in (per_grid_key, "counters")) / r["terminals"]
    per_grid = comp[per_grid_key] / max(1, r["grids_with_visit"])
    target = args.memory_target
    grids = min(r["grids_total"], target)
    h = r["hh"]
    hh_per_grid = h["bytes"] / max(1, h["grids"])
    hh_grids = h["max"] or grids  # an LRU at its maximum, or every grid with terminals
    hh = hh_per_grid * min(hh_grids, grids)
    est = per_term * target + per_grid * grids + comp["counters"] * grids / max(1, r["grids_with_visit"]) + hh
    log(f"\nextrapolated to {target:,} terminals (per-terminal components x {target:,}, per-grid x "
        f"{grids:,} grids, households x {min(hh_grids, grids):,} grids = {hh / 2**20:.0f} MiB), from the "
        f"{r['terminals']:,}-terminal run: {per_term:,.0f} B per terminal, {per_grid:,.0f} B per grid "
        f"-> state {est / 2**20:,.0f} MiB")
    if len(res) > 1:
        a, b = res[0], res[-1]
        slope = (b["rss1_kb"] - b["rss0_kb"] - (a["rss1_kb"] - a["rss0_kb"])) * 1024 / (b["terminals"] - a["terminals"])
        log(f"RSS slope between the {a['terminals']:,} and {b['terminals']:,} runs: {slope:,.0f} B per "
            f"terminal (includes one grid and its households per terminal below 12,216)")


# --------------------------------------------------------------------------- Redis per day
def redis_day(args) -> None:
    asyncio.run(_redis_day(args))


async def _redis_day(args) -> None:
    import redis.asyncio as aioredis
    from gridpulse.runtime.redis_server import EmbeddedRedis

    n, start, minutes = args.day_terminals, args.day_start, args.day_minutes
    path = ensure_log(n, start, minutes)
    records = offsets_in_memory(load_log(path))
    batch = args.batch or settings_mod.load().batch_max
    with EmbeddedRedis() as red:
        r = aioredis.Redis.from_url(red.url)
        used0 = (await r.info("memory"))["used_memory"]
        s = make_settings(red.url, "gday:")
        gps = gps_processor(s, r)
        res = await memory_processor(records, n_fixes(records), gps, batch, "full day")
        log(f"Redis per terminal-day: {n} terminals, {start} + {minutes} min: {len(records):,} batches "
            f"through GpsProcessor in {res['secs']:.0f}s ({res.per_cpu:,.0f} fixes per CPU-s)")
        used1 = (await r.info("memory"))["used_memory"]
        sizes = await redis_sizes(r, s.redis_prefix)
        days = sizes.get("route", [0])[0]
        wday = sizes.get("wday", [0, 0, 0, 0])
        tdays = wday[3] or days
        log(f"  {tdays} terminal-days (wday fields), {days} route keys, "
            f"{sizes.get('visits', [0])[0]} stay lists; used_memory +{(used1 - used0) / 1024:,.0f} KiB")
        redis_state_per_terminal(sizes, sum(len(st.terms) for st in gps.parts.values()),
                                 "at the end of the duty day")
        log(f"\n  {'per terminal-day':<40} {'bytes':>9} {'payload':>9}")
        tot = totp = 0
        for g in ("route", "visits", "wday"):
            if g in sizes:
                _, mem, payload, elems = sizes[g]
                tot += mem
                totp += payload
                log(f"  {g:<40} {mem / tdays:>9,.0f} {payload / tdays:>9,.0f}")
        log(f"  {'total':<40} {tot / tdays:>9,.0f} {totp / tdays:>9,.0f}")
        route = sizes.get("route", [0, 0, 0, 0])
        log(f"  route points per terminal-day: {route[2] / 12 / max(1, route[0]):,.0f} (12 bytes each)")
        fleet = 13_800
        keep = settings_mod.load().track_days
        log(f"  fleet ({fleet:,} terminals) x {keep} days kept (GRIDPULSE_TRACK_DAYS): "
            f"{tot / tdays * fleet * keep / 2**30:.2f} GiB of routes/stays/summaries")
        await r.aclose()
