"""The batch oracle: a plain recomputation of the live views from an event log.

It shares with streams/ only the pure rules (the lifecycle fold, the SLA clocks and
each case's contribution, which the unit tests pin down case by case) and none of the
streaming machinery: no partitions state, no incremental differences, no deadline
index, no Redis, no offsets. It dedupes events by id, folds each case's full history,
and sums. "Now" for a partition is the newest event time in it, as in the worker.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from aiokafka.partitioner import DefaultPartitioner

from gridpulse.loop.facts import CaseInfo, Rules, alerts, contribution, typical_from
from gridpulse.loop.lifecycle import fold
from gridpulse.schemas import Alert, CaseEvent, GpsBatch

_partitioner = DefaultPartitioner()


def partition_of(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner gives ``key``."""
    parts = list(range(partitions))
    return _partitioner(key.encode(), parts, parts)


def lineage(city, grid: str) -> tuple[str, ...]:
    """(grid, community, town, district, city) codes of a grid."""
    g = city.grid(grid)
    return (g.code, g.community, g.town, g.district, city.code)


def case_views(city, events: list[CaseEvent], rules: Rules, partitions: int,
               lateness_ms: int) -> tuple[Counter, dict[str, Alert]]:
    """Every KPI counter (summed over partitions) and every alert, by id."""
    by_case: dict[str, dict[str, CaseEvent]] = defaultdict(dict)
    wm: Counter = Counter()
    for ev in events:
        by_case[ev.case][ev.id] = ev  # the same id twice is one event
        p = partition_of(ev.case, partitions)
        wm[p] = max(wm[p], ev.ts)
    parts: dict[int, list] = defaultdict(list)
    for case, evs in by_case.items():
        view = fold(evs.values())
        reports = sorted((e for e in evs.values() if e.type == "reported"), key=lambda e: e.ts)
        where = reports[0] if reports else min(evs.values(), key=lambda e: e.ts)
        info = CaseInfo(case, lineage(city, where.grid), where.category, where.severity,
                        reports[0].ts if reports else 0, (reports[0].actor or "") if reports else "")
        parts[partition_of(case, partitions)].append((view, info))
    counters: Counter = Counter()
    out: dict[str, Alert] = {}
    for p, cases in parts.items():
        mine: Counter = Counter()  # a partition learns typical handling times from its own cases
        for view, info in cases:
            mine.update(contribution(view, info, wm[p], rules))
        counters += mine

        def typical(dept, cat, day, mine=mine):
            return typical_from(mine.get, dept, cat, day)

        for view, info in cases:
            for a in alerts(view, info, wm[p] - lateness_ms, rules, typical=typical):
                out[a.id] = a
    return +counters, out


def positions(batches: list[GpsBatch]) -> dict[str, tuple]:
    """Latest fix per terminal: greatest time, ties broken by position."""
    out = {}
    for b in batches:
        for f in b.fixes:
            cand = (f.ts, f.lon, f.lat, b.grid, b.worker)
            if b.terminal not in out or out[b.terminal][:3] < cand[:3]:
                out[b.terminal] = cand
    return out
