"""The GPS projection equals the batch oracle on messy synthetic logs, however batched.

Two grids (boxes), households on a lattice, terminals that visit households, walk
between them, wander off grid, go silent, send bad fixes, duplicates and late uploads.
The partition is fed in random batch sizes and, in one variant, saved and restored
mid-way as a worker restart would; its counters, alerts, routes, stays, day summaries and
positions must equal :func:`tests.oracle.gps_views` exactly.
"""

from __future__ import annotations

import random
from array import array
from collections import Counter

import msgspec
import pytest

from gridpulse.clock import local_day, parse_local
from gridpulse.schemas import Fix, GpsBatch
from gridpulse.visits.day import Terminal
from gridpulse.visits.rules import VisitRules
from streams.gps_state import GpsPartition
from tests.oracle import gps_views

TZ = "Asia/Shanghai"
GRIDS = {"G1": (121.500, 29.800), "G2": (121.510, 29.800)}  # south-west corners, ~960 x 1110 m boxes
SIZE = 0.01
RULES = VisitRules(lateness_ms=120_000, gap_ms=600_000, active_ms=600_000, silent_ms=900_000,
                   offgrid_ms=600_000, tz=TZ)


def households(grid):
    x0, y0 = GRIDS[grid]
    return tuple((f"{grid}-{i:03d}", round(x0 + 0.001 + (i % 5) * 0.002, 6),
                  round(y0 + 0.001 + (i // 5) * 0.002, 6)) for i in range(25))


def contains(grid, lon, lat):
    x0, y0 = GRIDS[grid]
    return x0 <= lon < x0 + SIZE and y0 <= lat < y0 + SIZE


def lineage(grid):
    return (grid, "C1", "T1", "D1", "X")


def track(rng: random.Random, grid: str, start: int, end: int):
    """Fixes every 10 s: visits of 2-9 min, walks at 1.2 m/s, a silence, an excursion."""
    hh = households(grid)
    lon, lat = hh[rng.randrange(25)][1:]
    t, out = start, []
    silent_at = start + rng.randrange(0, end - start)
    while t < end:
        if rng.random() < 0.08:
            tlon, tlat = lon + 0.012, lat  # off grid (about 1.2 km east)
            stay = rng.uniform(11, 16) * 60_000
        else:
            _, tlon, tlat = hh[rng.randrange(25)]
            stay = rng.uniform(2, 9) * 60_000
        while (abs(tlon - lon) > 1e-5 or abs(tlat - lat) > 1e-5) and t < end:
            step = 12 / 111_000
            dx, dy = tlon - lon, tlat - lat
            d = (dx * dx + dy * dy) ** 0.5
            f = min(1.0, step / d)
            lon, lat = lon + dx * f, lat + dy * f
            out.append((t, lon, lat))
            t += 10_000
        until = t + stay
        while t < until and t < end:
            out.append((t, lon + rng.gauss(0, 5e-5), lat + rng.gauss(0, 5e-5)))
            t += 10_000
        if silent_at and t >= silent_at:
            t += rng.choice([5, 25]) * 60_000  # a short or a long silence
            silent_at = 0
    fixes = []
    for ts, x, y in out:
        acc = 8.0 if rng.random() > 0.05 else 120.0
        fixes.append(Fix(ts, round(x, 6), round(y, 6), acc))
    return fixes


def make_log(seed: int) -> list[GpsBatch]:
    rng = random.Random(seed)
    day0 = parse_local("2026-11-23 08:00", TZ)
    batches = []
    for k in range(6):
        grid = "G1" if k < 4 else "G2"
        term = f"T{k}"
        for day in range(2):
            base = day0 + day * 86_400_000
            fixes = track(rng, grid, base + rng.randrange(0, 3_600_000), base + 3 * 3_600_000)
            for i in range(0, len(fixes), 6):
                chunk = fixes[i:i + 6]
                batches.append(GpsBatch(id=f"{term}-{chunk[0].ts}", terminal=term,
                                        worker=f"W{k}", grid=grid, fixes=chunk))
    batches.sort(key=lambda b: b.fixes[-1].ts)
    # one more upload 40 minutes after the rest: the clock passes every open segment's gap
    end = batches[-1].fixes[-1].ts + 40 * 60_000
    x, y = households("G2")[0][1:]
    batches.append(GpsBatch(id="T9-end", terminal="T9", worker="W9", grid="G2",
                            fixes=[Fix(end, x, y, 5.0)]))
    # disorder: swap neighbours, delay a few uploads (some beyond the lateness), duplicate some
    for i in range(len(batches) - 1):
        if rng.random() < 0.2:
            batches[i], batches[i + 1] = batches[i + 1], batches[i]
    out = []
    for b in batches:
        out.append(b)
        if rng.random() < 0.05:
            out.append(b)  # a retried upload
    # a few uploads arrive late: some within the lateness, some beyond it
    for i in sorted(rng.sample(range(len(out) - 300), 20), reverse=True):
        b = out.pop(i)
        out.insert(i + rng.choice([3, 8, 60, 200]), b)
    return out


def new_partition(kpi_days: int = 0):
    return GpsPartition(0, lineage, RULES, households, contains, kpi_days)


def restore(st: GpsPartition) -> GpsPartition:
    """What a restart rebuilds from the saved state (as the Redis store does)."""
    enc, dec = msgspec.msgpack.Encoder(), msgspec.msgpack.Decoder(Terminal)
    new = new_partition(st.kpi_days)
    new.offset, new.watermark, new.late = st.offset, st.watermark, st.late
    new.positions = dict(st.positions)
    new.terms = {k: dec.decode(enc.encode(t)) for k, t in st.terms.items()}
    new.cov = {g: array("H", a.tobytes()) for g, a in st.cov.items()}
    new.lastvisit = dict(st.lastvisit)
    new.counters = Counter({k: v for k, v in st.counters.items() if v})
    new.rebuild()
    return new


def run(log, seed: int, restart_at: int | None = None, kpi_days: int = 0):
    rng = random.Random(seed)
    st = new_partition(kpi_days)
    got = {"alerts": {}, "routes": {}, "stays": {}, "days": {}}

    def collect():
        for a in st.alerts_out:
            got["alerts"][a.id] = a
        for k, pts in st.out.route.items():
            got["routes"].setdefault(k, []).extend(pts)
        for v in st.out.visits:
            got["stays"].setdefault((v.day, v.terminal), []).append(
                [v.household, v.start, v.end, round(v.lon, 6), round(v.lat, 6)])
        got["days"].update(st.out.closed)
        from gridpulse.visits.day import summary
        for day, term in st.out.days:
            if st.terms[term].day == day:
                got["days"][(day, term)] = summary(st.terms[term])
        st.clear_dirty()

    i = 0
    while i < len(log):
        n = rng.randrange(1, 40)
        for off in range(i, min(len(log), i + n)):
            st.apply(log[off], off)
        st.advance()
        collect()
        i += n
        if restart_at is not None and i >= restart_at:
            st, restart_at = restore(st), None
    return st, got


@pytest.mark.parametrize("seed,restart", [(1, None), (2, None), (5, None), (3, 300), (4, 900), (6, 1500)])
def test_streaming_equals_oracle(seed, restart):
    log = make_log(seed)
    st, got = run(log, seed, restart)
    want = gps_views([(0, i, b) for i, b in enumerate(log)], RULES, households, contains, lineage)
    assert +st.counters == want["counters"]
    assert got["alerts"] == want["alerts"]
    assert {k: [(ts, round(x, 6), round(y, 6)) for ts, x, y in v] for k, v in got["routes"].items()} == \
        {k: [(ts, round(x, 6), round(y, 6)) for ts, x, y in v] for k, v in want["routes"].items()}
    assert got["stays"] == want["stays"]
    assert got["days"] == want["days"]
    assert st.positions == want["positions"]
    assert st.late == want["late"]
    # the log exercises what it claims to
    kinds = Counter(a.kind for a in want["alerts"].values())
    assert kinds["off_grid"] > 0 and kinds["silent_terminal"] > 0, kinds
    assert sum(v for k, v in want["counters"].items() if k.startswith("visits|X|")) > 20
    assert want["late"] > 0


@pytest.mark.parametrize("seed,restart", [(1, None), (3, 300), (4, 900)])
def test_visit_counts_of_days_behind_the_horizon_are_dropped(seed, restart):
    """Held one day (the log spans two): the first day's visit counts go, however the log
    is batched or restarted, as the oracle says; nothing else moves."""
    log = make_log(seed)
    st, got = run(log, seed, restart, kpi_days=1)
    full, _ = run(log, seed, restart)
    records = [(0, i, b) for i, b in enumerate(log)]
    want = gps_views(records, RULES, households, contains, lineage, kpi_days=1)["counters"]
    assert +st.counters == want
    today = local_day(st.watermark, TZ)
    assert st.first_day == today
    dropped = {k for k in +full.counters if k not in want}
    assert dropped and all(k.startswith("visits|") and k.endswith(f"|{today - 1}") for k in dropped)
    assert {k: n for k, n in (+full.counters).items() if k not in dropped} == want


def _silence_log(late_upload: bool) -> list[GpsBatch]:
    """Terminal A is heard at 10:00 and again 10 s before it would count as silent; B
    keeps reporting. With ``late_upload``, A's second fix arrives after B's fix of 20 s
    past A's silence instant (within the lateness: it is still applied)."""
    t0 = parse_local("2026-11-24T10:00:00", TZ)
    x, y = households("G1")[0][1:]

    def batch(term, ts):
        return GpsBatch(id=f"{term}-{ts}", terminal=term, worker=f"W{term}", grid="G1", fixes=[Fix(ts, x, y, 5.0)])
    a1, a2 = batch("A", t0), batch("A", t0 + RULES.silent_ms - 10_000)
    b = [batch("B", t0 + k * 10_000) for k in range(0, 90 + 3)]  # to 20 s past A's silence instant
    log = [a1] + b[:-1] + ([b[-1], a2] if late_upload else [a2, b[-1]])
    return log + [batch("B", t0 + RULES.silent_ms + k * 60_000) for k in range(1, 6)]  # the horizon moves on


@pytest.mark.parametrize("batch", [1, 7, 1000])
def test_a_silence_is_judged_on_final_fixes_whatever_the_upload_order(batch):
    """A was never silent for 15 minutes, however its second fix was uploaded: no alert.
    (Judged at "now" as uploads arrive, the late upload made one.)"""
    got = {}
    for late in (False, True):
        st, alerts = new_partition(), []
        for off, b in enumerate(_silence_log(late)):
            st.apply(b, off)
            if off % batch == batch - 1:
                st.advance()
                alerts += st.alerts_out
                st.clear_dirty()
        st.advance()
        got[late] = {a.id for a in alerts + st.alerts_out}
    assert got[False] == got[True]
    assert not any(a.startswith("silent:A:") for a in got[True]), got[True]
