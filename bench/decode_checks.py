"""What the worker's record checks cost per record: the decode path before and after them.

Usage::

    .venv/bin/python bench/decode_checks.py [--batches 20000] [--repeat 5]

The poison-proof worker checks every record before applying it: any decoder failure
becomes a reason (streams/poison.py), the value must be UTF-8 throughout, the key must be
the value's grid or case, and the event must not be dated ahead of the record's
timestamp. This measures, in one process on the same records (GPS batches and case
events from the seeded simulator, as the worker sees them), the decode the worker did
before (``decode_gps`` / ``decode_case`` and the grid lookup) against the processors'
``_decode`` now, and prints nanoseconds per record and the ratio. Best of ``--repeat``
runs each (the machine is noisy); it asserts nothing. Compare the difference with the
GPS processor's ~70-95 us of CPU per batch at the whole fleet (docs/performance.md).
"""

from __future__ import annotations

import argparse
import time

from gridpulse.city import load_city
from gridpulse.clock import parse_local
from gridpulse.schemas import decode_case, decode_gps, encode
from producers.simulator import Simulator
from streams.processor import CaseProcessor, GpsProcessor, Record
from streams.wiring import lineages


def _records(batches: int) -> tuple[list[Record], list[Record], set[str]]:
    city = load_city("ningbo")
    sim = Simulator(city, seed=7, start_ms=parse_local("2026-11-27T09:00:00", "Asia/Shanghai"),
                    tz="Asia/Shanghai", terminals=13_800, cases_per_day=15_000)
    gps, cases = [], []
    while len(gps) < batches:
        for m in sim.advance(sim.now + 60_000):
            rec = Record(0, 0, m.key.encode(), encode(m.value), m.ts / 1000)
            (gps if m.topic == "gps-fixes" else cases).append(rec)
    return gps[:batches], cases, set(lineages(city))


def _best(fn, recs, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for r in recs:
            fn(r)
        best = min(best, time.perf_counter() - t0)
    return best / len(recs) * 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    gps, cases, grids = _records(args.batches)
    known = grids.__contains__

    def old_gps(r):  # the decode before the checks: decoder, then the grid
        b = decode_gps(r.value)
        if not known(b.grid):
            raise ValueError(b.grid)
        return b

    def old_case(r):
        ev = decode_case(r.value)
        if not known(ev.grid):
            raise ValueError(ev.grid)
        return ev

    new_gps = GpsProcessor(None, known, None, clock_ahead_ms=300_000)._decode
    new_case = CaseProcessor(None, known, None, clock_ahead_ms=300_000)._decode
    print(f"{len(gps):,} GPS batches, {len(cases):,} case events; best of {args.repeat}, ns per record")
    print(f"{'':12} {'before':>8} {'after':>8} {'after/before':>13} {'added':>7}")
    for name, recs, old, new in (("gps-fixes", gps, old_gps, new_gps), ("case-events", cases, old_case, new_case)):
        a, b = _best(old, recs, args.repeat), _best(new, recs, args.repeat)
        print(f"{name:12} {a:8.0f} {b:8.0f} {b / a:13.2f} {b - a:7.0f}")


if __name__ == "__main__":
    main()
