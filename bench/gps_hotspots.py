"""bench/gps.py --hotspots: (c) with bench/hotfixes.py's fixes patched in, A/B round-robin
with hashed outputs, and per-call timings of the hot functions."""

from __future__ import annotations

import collections
import gc
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import msgspec  # noqa: E402

from gridpulse import settings as settings_mod  # noqa: E402
from gridpulse.clock import parse_local  # noqa: E402
from gps_common import (DAY, PARTITIONS, TZ, _households_cache_info, _prewarm_households,  # noqa: E402
                        ensure_log, hh_source, load_log, log, n_fixes, offsets_in_memory)
from gps_throughput import pure  # noqa: E402


# --------------------------------------------------------------------------- hot spots
def hotspots(args) -> None:
    """(c) again with each proposed fix monkeypatched in; outputs must hash the same."""
    import hotfixes  # bench/hotfixes.py
    from gridpulse.city import load_city
    from streams.wiring import lineages, visit_rules

    path = ensure_log(args.terminals, args.start, args.warmup + args.minutes)
    recs = load_log(path)
    cut = parse_local(f"{DAY}T{args.start}", TZ) + args.warmup * 60_000
    n_warm = sum(1 for r in recs if r[0] <= cut)
    records = offsets_in_memory(recs)
    del recs
    warm, meas = records[:n_warm], records[n_warm:]
    fixes = n_fixes(meas)
    city = load_city("ningbo")
    s = settings_mod.load({})
    rules, lin = visit_rules(s), lineages(city)
    batch = args.batch or s.batch_max
    enc = msgspec.msgpack.Encoder()

    from streams.gps_state import GpsPartition
    t0 = time.perf_counter()
    parts = {p: GpsPartition(p, lin.__getitem__, rules, hh_source(city), city.contains)
             for p in range(PARTITIONS)}
    pure(parts, warm, 0, batch, "warm-up")
    # The warm state, saved the way the store saves it, restored per variant like load_gps.
    snap = {p: _snapshot(st, enc) for p, st in parts.items()}
    grids = {t.grid for st in parts.values() for t in st.terms.values()}
    del parts
    _prewarm_households(grids)
    log(f"hot spots: {args.terminals:,} terminals, warm-up {n_warm:,} batches in "
        f"{time.perf_counter() - t0:.0f}s; measured {len(meas):,} batches, {fixes:,} fixes")

    def fresh(fix_names: tuple[str, ...]):
        hotfixes.apply(fix_names)
        from streams.gps_state import GpsPartition as GP
        out = {}
        for p, sn in snap.items():
            st = GP(p, lin.__getitem__, rules, hh_source(city), city.contains)
            _restore(st, sn)
            out[p] = st
        gc.unfreeze()
        gc.collect()
        gc.freeze()  # the snapshot, records and city are long-lived: keep full GCs out of A/B noise
        return out

    if args.fixes:
        variants = [()] + [tuple(v.split("+")) for v in args.fixes.split(",")]
    else:
        variants = ([()] + [(n,) for n in hotfixes.FIXES + hotfixes.EXTRA] + [tuple(hotfixes.FIXES)]
                    + [tuple(hotfixes.FIXES + hotfixes.EXTRA)])
    variants = list(dict.fromkeys(variants))
    sizes = [batch] + ([args.live_batch] if args.live_batch else [])
    sub = meas[:int(len(meas) * args.hot_share)]
    sub_fixes = n_fixes(sub)
    runs = [(size, names) for size in sizes for names in variants
            if size == batch or names in ((), ("advance_heap",), tuple(hotfixes.FIXES))]
    log(f"{len(runs)} variants x {args.repeat} rounds, round-robin (so slow spells of the machine hit "
        f"all alike), each over the first {args.hot_share:.0%} of the window ({len(sub):,} batches, "
        f"{sub_fixes:,} fixes); best and median fixes per CPU second")
    got: dict = collections.defaultdict(list)
    digests: dict = {}
    try:
        for rnd in range(args.repeat):
            for size, names in runs:
                parts = fresh(names)
                res = pure(parts, sub, sub_fixes, size, "", digest=(rnd == 0))
                got[(size, names)].append(res.per_cpu)
                if rnd == 0:
                    digests[(size, names)] = res["digest"]
                    if (size, names) == (batch, ()):
                        base_outs = res["outs"]
                del parts, res
            log(f"  round {rnd + 1}/{args.repeat} done")
    finally:
        hotfixes.apply(())
    log(f"\n{'(c) decode + apply + advance, variant':<78} {'best':>8} {'median':>8} {'gain':>7} "
        f"{'median gain':>11}  same output")
    for size, names in runs:
        v = got[(size, names)]
        b = got[(size, ())]
        best, med = max(v), statistics.median(v)
        same = digests[(size, names)] == digests[(size, ())]
        label = f"{size}/batch, " + ("+".join(names) if names else "as is")
        log(f"{label:<78} {best:>8,.0f} {med:>8,.0f} {best / max(b) - 1:>+7.1%} "
            f"{med / statistics.median(b) - 1:>+11.1%}  {'yes' if same else 'NO'}")
    gc.unfreeze()
    log(f"households after all runs: {_households_cache_info()}")
    micro(base_outs, snap, sub, sub_fixes, batch, fresh, city)


def micro(outs, snap, sub, sub_fixes: int, batch: int, fresh, city) -> None:
    """Per-call costs of the hot functions (best of 5, tight loops on this run's own data),
    and how often the baseline calls them per fix: robust where whole-run A/B is noisy."""
    import timeit

    import hotfixes
    from gridpulse.visits import day as vday
    from gridpulse.visits import stays as vstays
    from gridpulse.visits import track as vtrack
    from streams import gps_state

    # 1. calls per fix in the baseline (counting wrappers, one more run)
    counts: collections.Counter[str] = collections.Counter()

    def counting(mod, name, key):
        orig = getattr(mod, name)

        def w(*a, **kw):
            counts[key] += 1
            return orig(*a, **kw)
        setattr(mod, name, w)
        return mod, name, orig

    parts = fresh(())  # restores the unpatched functions: count after it
    undo = [counting(vtrack, "distance_m", "distance_m"), counting(vstays, "distance_m", "distance_m"),
            counting(vday, "distance_m", "distance_m"), counting(vday, "nearest", "nearest"),
            counting(gps_state.GpsPartition, "_recount", "_recount"),
            counting(vday.Tracker, "finalize", "finalize"), counting(vday.Tracker, "expire", "expire")]
    info0 = city._households_cached.cache_info() if hasattr(city, "_households_cached") else None
    for p, st in parts.items():
        st.tracker.households = counting_hh(st.tracker.households, counts)
    res = pure(parts, sub, sub_fixes, batch, "")
    info1 = city._households_cached.cache_info() if info0 else None
    for mod, name, orig in reversed(undo):
        setattr(mod, name, orig)
    terms = sum(len(st.terms) for st in parts.values())
    del parts
    advances = res["calls"] * PARTITIONS
    log(f"\ncalls in the baseline run ({sub_fixes:,} fixes, {res['calls']:,} batches of {batch}, "
        f"~{advances:,} advance() calls over {terms:,} terminals):")
    for k in ("distance_m", "nearest", "households", "_recount", "finalize", "expire"):
        log(f"  {k:<12} {counts[k]:>10,}  {counts[k] / sub_fixes:>7.3f} per fix")
    if info0 and not hasattr(city, "grid_households"):
        log(f"  households LRU: {info1.misses - info0.misses:,} misses (builds) in the run, "
            f"{info1.hits - info0.hits:,} hits")
    us_fix = 1e6 / res.per_cpu
    log(f"  baseline: {us_fix:.1f} us of CPU per fix (this run)")

    # 2. per-call costs
    def best(fn, number: int) -> float:
        return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6  # us per call

    pts = [pt for route in list(outs.route.values())[:3000] for pt in route]
    pairs = list(zip(pts, pts[1:]))[:20000]
    d0 = vtrack.distance_m
    t_d0 = best(lambda: [d0(a[1], a[2], b[1], b[2]) for a, b in pairs], 3) / len(pairs)
    t_d1 = best(lambda: [hotfixes.distance_inline(a[1], a[2], b[1], b[2]) for a, b in pairs], 3) / len(pairs)
    same = all(d0(a[1], a[2], b[1], b[2]) == hotfixes.distance_inline(a[1], a[2], b[1], b[2]) for a, b in pairs)
    log("\nper call (best of 5 loops on this run's data):")
    log(f"  distance_m          {t_d0:6.3f} us -> distance_inline {t_d1:6.3f} us  (bit-identical on "
        f"{len(pairs):,} pairs: {same}); x {counts['distance_m'] / sub_fixes:.2f} per fix = "
        f"{(t_d0 - t_d1) * counts['distance_m'] / sub_fixes / us_fix:+.1%} of the CPU per fix")
    visits = [v for vs in outs.visits.values() for v in vs][:1500]
    grids = sorted({v[2] for v in visits})
    hh = {g: hh_source(city)(g) for g in grids}
    Stay = vstays.Stay
    stays = [(Stay(v[5], v[6], v[7], v[8], 1), hh[v[2]]) for v in visits]
    n0 = vstays.nearest
    t_n0 = best(lambda: [n0(st, h) for st, h in stays], 1) / len(stays)
    t_n1 = best(lambda: [hotfixes.nearest_prefilter(st, h) for st, h in stays], 1) / len(stays)
    same = all(n0(st, h) == hotfixes.nearest_prefilter(st, h) for st, h in stays)
    if hotfixes.BUILT_IN:
        log(f"  nearest (box test built in, a9c2fa7) {t_n0:6.1f} us; x {counts['nearest'] / sub_fixes:.4f} "
            f"per fix = {t_n0 * counts['nearest'] / sub_fixes / us_fix:.1%} of the CPU per fix")
    else:
        log(f"  nearest (250 hh)    {t_n0:6.1f} us -> nearest_prefilter {t_n1:6.1f} us  (same answers on "
            f"{len(stays):,} stays: {same}); x {counts['nearest'] / sub_fixes:.4f} per fix = "
            f"{(t_n0 - t_n1) * counts['nearest'] / sub_fixes / us_fix:+.1%}")
    build = getattr(getattr(city, "_households_cached", None), "__wrapped__", None)
    if hasattr(city, "grid_households"):
        from gridpulse.city import households as H
        t_b = best(lambda: [H.grid_households(city._shape(g), city.grid(g).households, city.seed, g)
                            for g in grids[:200]], 1) / min(200, len(grids))
        log(f"  grid_households     {t_b:6.1f} us per grid, built once per grid and process (kept)")
    elif build is not None:
        t_b = best(lambda: [build(g) for g in grids[:200]], 1) / min(200, len(grids))
        per_fix = counts["households"] / sub_fixes
        log(f"  households build    {t_b:6.1f} us per grid (an LRU miss); x {per_fix:.4f} lookups per fix: "
            f"{t_b * per_fix / us_fix:.1%} of the CPU per fix if every lookup missed")


def counting_hh(fn, counts):
    def w(g):
        counts["households"] += 1
        return fn(g)
    return w


def _snapshot(st, enc) -> dict:
    return {"offset": st.offset, "wm": st.watermark, "late": st.late, "first": st.first,
            "positions": dict(st.positions), "terms": {k: enc.encode(t) for k, t in st.terms.items()},
            "cov": {g: a.tobytes() for g, a in st.cov.items()}, "lastvisit": dict(st.lastvisit),
            "counters": dict(st.counters)}


def _restore(st, sn: dict) -> None:
    """As ``PartitionStore.load_gps`` does from Redis."""
    from array import array

    from gridpulse.visits.day import Terminal
    dec = msgspec.msgpack.Decoder(Terminal)
    st.offset, st.watermark, st.late, st.first = sn["offset"], sn["wm"], sn["late"], sn["first"]
    st.positions = dict(sn["positions"])
    st.terms = {k: dec.decode(v) for k, v in sn["terms"].items()}
    for g, raw in sn["cov"].items():
        a = array("H")
        a.frombytes(raw)
        st.cov[g] = a
    st.lastvisit = dict(sn["lastvisit"])
    st.counters = collections.Counter(sn["counters"])
    st.rebuild()
    st.persisted_offset = st.offset
