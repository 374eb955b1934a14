"""The batch oracle: a plain recomputation of the live views from an event log.

It shares with streams/ only the pure rules (the lifecycle fold, the SLA clocks and
each case's contribution, which the unit tests pin down case by case) and the checks of
the wire that decide what is a dead letter (streams/poison.py), and none of the
streaming machinery: no partitions state, no incremental differences, no deadline
index, no Redis, no offsets. It dedupes events by id, folds each case's full history,
and sums. "Now" for a partition is its watermark as the contract defines it: the newest
tick, or event valid when it arrived, in its log.

It assumes what the integration tests send: disorder within the allowed lateness. An
event refused and dead-lettered once the lateness passed stays out for the worker even
if its predecessor comes later still; this oracle folds it back in (a strict xfail in
tests/unit/test_contract_oracle.py keeps that limit visible). Likewise it assumes no event
comes for a case after it is archived (docs/contract.md, "Archived cases"); it applies the
one thing archiving changes in the figures: an archived case's per-minute report counts
(``newmin``) are gone.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from aiokafka.partitioner import DefaultPartitioner

from gridpulse.loop.facts import CaseInfo, Rules, alerts, contribution, typical_from
from gridpulse.loop.horizon import expired, first_day
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


def case_log(city, items, partitions: int, clock_ahead_ms: int = 0) -> dict[int, list]:
    """Per partition, in log order, what the worker applies: ``CaseEvent``s and tick times.

    ``items`` are either ``CaseEvent`` objects in the order they were sent (each goes to
    the partition of its case; one with an unknown grid is a dead letter) or records read
    back from Kafka (``partition``, ``offset``, ``timestamp`` in ms, ``value`` bytes),
    which are decoded and checked as the contract says: undecodable values, unknown grids
    and events dated more than ``clock_ahead_ms`` after their record's timestamp are dead
    letters, not part of the log.
    """
    from streams.poison import Poison, case_item
    from streams.processor import Record

    out: dict[int, list] = defaultdict(list)
    recs = [i for i in items if not isinstance(i, CaseEvent)]
    for ev in (i for i in items if isinstance(i, CaseEvent)):
        if _is_grid(city, ev.grid):
            out[partition_of(ev.case, partitions)].append(ev)
    known = lambda g: _is_grid(city, g)  # noqa: E731
    for r in sorted(recs, key=lambda r: (r.partition, r.offset)):
        # The worker's own checks of the wire (decode, key, grid, clock ahead): the
        # contract's list of what is dead-lettered, kept in one place.
        rec = Record(r.partition, r.offset, r.key, r.value,
                     None if r.timestamp is None else r.timestamp / 1000)
        try:
            item = case_item(rec, known, clock_ahead_ms)
        except Poison:
            continue
        out[r.partition].append(item if isinstance(item, CaseEvent) else item.ts)
    return out


def _is_grid(city, code: str) -> bool:
    try:
        city.grid(code)
    except KeyError:
        return False
    return True


def watermark(log: list) -> int:
    """A partition's "now" after its log: the newest tick, or the newest time of an event
    that its case's valid events included when it arrived (or since)."""
    wm, seen = 0, defaultdict(dict)
    for item in log:
        if isinstance(item, int):
            wm = max(wm, item)
            continue
        evs = seen[item.case]
        if item.id in evs:
            continue
        evs[item.id] = item
        bad = {eid for eid, _ in fold(evs.values()).rejected}
        wm = max([wm] + [e.ts for e in evs.values() if e.id not in bad])
    return wm


def archived(view, info: CaseInfo, evs, now: int, rules: Rules, lateness_ms: int, keep_ms: int) -> bool:
    """Whether the contract archives this case at ``now`` ("Archived cases"): not open, its
    clocks all stopped more than the lateness ago, its newest event more than ``keep_ms``
    ago (0: never)."""
    if not keep_ms or view.stage is None or view.is_open:
        return False
    refused = {eid for eid, _ in view.rejected}
    evs = list(evs)
    if any(e.id in refused and e.ts > now - lateness_ms for e in evs):
        return False  # still waiting for the lateness; older refused ones are dead letters
    clocks = rules.clocks(view, info)
    if len(view.checks) > 1:
        clocks = clocks + rules.earlier_checks(view, info)
    if not all(stop is not None and stop <= now - lateness_ms for _, stop in clocks):
        return False
    return max(e.ts for e in evs if e.id not in refused) < now - keep_ms


def case_views(city, items, rules: Rules, partitions: int, lateness_ms: int,
               clock_ahead_ms: int = 0, keep_ms: int = 0,
               kpi_days: int = 0) -> tuple[Counter, dict[str, Alert]]:
    """Every KPI counter (summed over partitions) and every alert, by id (see case_log);
    the per-day counters of days ``kpi_days`` behind a partition's now are not held
    (docs/contract.md, "Counter horizon"; 0: all are)."""
    logs = case_log(city, items, partitions, clock_ahead_ms)
    counters: Counter = Counter()
    out: dict[str, Alert] = {}
    for p, log in logs.items():
        now = watermark(log)
        by_case: dict[str, dict[str, CaseEvent]] = defaultdict(dict)
        for ev in log:
            if not isinstance(ev, int):
                by_case[ev.case].setdefault(ev.id, ev)  # the same id twice is one event
        cases = []
        for case, evs in by_case.items():
            view = fold(evs.values())
            reports = sorted((e for e in evs.values() if e.type == "reported"), key=lambda e: e.ts)
            where = reports[0] if reports else min(evs.values(), key=lambda e: e.ts)
            info = CaseInfo(case, lineage(city, where.grid), where.category, where.severity,
                            reports[0].ts if reports else 0, (reports[0].actor or "") if reports else "")
            cases.append((view, info, archived(view, info, evs.values(), now, rules, lateness_ms, keep_ms)))
        mine: Counter = Counter()  # a partition learns typical handling times from its own cases
        for view, info, gone in cases:
            keys = contribution(view, info, now, rules)
            mine.update(k for k in keys if not (gone and k.startswith("newmin|")))
        if kpi_days and now:
            first = first_day(now, rules.tz, kpi_days)
            counters += Counter({k: n for k, n in mine.items() if not expired(k, first)})
        else:
            counters += mine

        def typical(dept, cat, day, mine=mine):
            return typical_from(mine.get, dept, cat, day)

        for view, info, _ in cases:
            for a in alerts(view, info, now - lateness_ms, rules, typical=typical):
                out[a.id] = a
    return +counters, out


def case_watermarks(city, items, partitions: int, clock_ahead_ms: int = 0) -> dict[int, int]:
    """Each partition's "now" after the log (see :func:`watermark`)."""
    return {p: watermark(log) for p, log in case_log(city, items, partitions, clock_ahead_ms).items()}


def positions(batches: list[GpsBatch]) -> dict[str, tuple]:
    """Latest fix per terminal: greatest time, ties broken by position."""
    out = {}
    for b in batches:
        for f in b.fixes:
            cand = (f.ts, f.lon, f.lat, b.grid, b.worker)
            if b.terminal not in out or out[b.terminal][:3] < cand[:3]:
                out[b.terminal] = cand
    return out


def gps_views(records, rules, households, contains, lineage, kpi_days: int = 0) -> dict:
    """Everything the GPS projection serves, recomputed from ``records``.

    ``records`` are ``(partition, offset, GpsBatch)`` as read back from Kafka. The log is
    walked once per partition in offset order only for what depends on arrival: which
    fixes came too late and the newest fix per terminal. Tracks, stays, visits, routes,
    coverage, off-grid records and silent-terminal alerts are then computed from each
    terminal's final fixes as whole days, with the batch
    ``stays.events`` and none of the streaming machinery. Visit counts of days
    ``kpi_days`` behind a partition's now are not held (0: all are).
    """
    from gridpulse.clock import local_day
    from gridpulse.visits.day import Terminal, summary
    from gridpulse.visits.duty import silence_window
    from gridpulse.visits.facts import grid_counts, term_keys
    from gridpulse.visits.stays import Stay, events, nearest
    from gridpulse.visits.track import Point, check, distance_m

    by_p: dict[int, dict[int, GpsBatch]] = defaultdict(dict)
    for p, off, b in records:
        by_p[p][off] = b
    counters: Counter = Counter()
    res = {"alerts": {}, "routes": {}, "stays": {}, "days": {}, "positions": {}, "late": 0}
    for p, recs in by_p.items():
        wm, terms = 0, {}
        accepted: dict[str, list] = defaultdict(list)
        for off in sorted(recs):
            b = recs[off]
            h = wm - rules.lateness_ms
            ok = [f for f in b.fixes if f.ts >= h]
            res["late"] += len(b.fixes) - len(ok)
            if not ok:
                continue
            t = terms.setdefault(b.terminal, Terminal(b.terminal))
            t.seen = max(t.seen, *(f.ts for f in ok))
            t.grid, t.worker = b.grid, b.worker
            accepted[b.terminal] += [(f.ts, f.lon, f.lat, f.acc, b.worker, b.grid) for f in ok]
            wm = max(wm, *(f.ts for f in ok))
        h = wm - rules.lateness_ms
        visits: Counter = Counter()
        cov: dict[str, dict[int, int]] = defaultdict(dict)
        for term, fixes in accepted.items():
            t = terms[term]
            best = max((f[0], f[1], f[2]) for f in fixes)
            res["positions"][term] = (*best, t.grid, t.worker)
            final = sorted(f for f in fixes if f[0] < h)
            days = defaultdict(list)
            for f in final:
                days[local_day(f[0], rules.tz)].append(f)
            # Silences: after final fix a, the terminal is silent from silence_window(a)
            # if the next final fix comes later than that, or none came before the horizon.
            nexts = [f[0] for f in final[1:]] + [h]
            for f, nxt in zip(final, nexts):
                w = silence_window(f[0], rules)
                if w is not None and w[0] < nxt:
                    fx = days[local_day(f[0], rules.tz)]
                    aid, lin = f"silent:{term}:{f[0]}", lineage(fx[0][5])
                    res["alerts"][aid] = Alert(
                        id=aid, kind="silent_terminal", ts=w[0], grid=lin[0], community=lin[1],
                        town=lin[2], district=lin[3], city=lin[4], terminal=term, worker=fx[0][4],
                        message=f"terminal {term} ({fx[0][4]}) silent since {f[0]}")
            for n, day in enumerate(sorted(days)):
                last_day = n == len(days) - 1
                fx = days[day]
                d = Terminal(term, day=day, dworker=fx[0][4], dgrid=fx[0][5], first=fx[0][0])
                kept, prev = [], None
                for f in fx:
                    pt = Point(*f[:4])
                    if check(prev, pt, rules.track):
                        d.dropped += 1
                    else:
                        kept.append(pt)
                        prev = pt
                segs, cur = [], []
                for pt in kept:
                    if cur and pt.ts - cur[-1].ts > rules.gap_ms:
                        segs.append(cur)
                        cur = []
                    elif cur:
                        d.duty_ms += pt.ts - cur[-1].ts
                    cur.append(pt)
                if cur:
                    segs.append(cur)
                route, stays = [], []
                for k, seg in enumerate(segs):
                    closed = k < len(segs) - 1 or not last_day or h - seg[-1].ts > rules.gap_ms
                    for e in events(seg, rules.stay, final=closed):
                        if isinstance(e, Stay):
                            route += [(e.start, e.lon, e.lat), (e.end, e.lon, e.lat)]
                            hh = nearest(e, households(d.dgrid), rules.stay) or ""
                            stays.append([hh, e.start, e.end, round(e.lon, 6), round(e.lat, 6)])
                            d.stays += 1
                            if hh:
                                d.visits += 1
                                for a in lineage(d.dgrid):
                                    visits[f"visits|{a}|{day}"] += 1
                                i = int(hh.rsplit("-", 1)[1])
                                cov[d.dgrid][i] = max(cov[d.dgrid].get(i, 0), day)
                        elif not route or distance_m(route[-1][1], route[-1][2], e.lon, e.lat) >= rules.route_step_m:
                            route.append((e.ts, e.lon, e.lat))
                d.dist_m = sum(distance_m(a[1], a[2], b[1], b[2]) for a, b in zip(route, route[1:]))
                d.kept, d.last = len(kept), kept[-1] if kept else None
                off_since = off_last = 0
                for pt in kept:
                    if contains(d.dgrid, pt.lon, pt.lat):
                        off_since = off_last = 0
                        continue
                    off_since = off_since or pt.ts
                    off_last = pt.ts
                    aid = f"offgrid:{term}:{off_since}"
                    if off_last - off_since >= rules.offgrid_ms and aid not in res["alerts"]:
                        lin = lineage(d.dgrid)
                        res["alerts"][aid] = Alert(
                            id=aid, kind="off_grid", ts=pt.ts, grid=lin[0], community=lin[1],
                            town=lin[2], district=lin[3], city=lin[4], terminal=term,
                            worker=d.dworker, message=f"{d.dworker} outside grid {d.dgrid} since {off_since}")
                if last_day:
                    t.off_since, t.off_last = off_since, off_last
                if route:
                    res["routes"][(day, term)] = route
                if stays:
                    res["stays"][(day, term)] = stays
                res["days"][(day, term)] = summary(d)
            counters.update(term_keys(t, wm, rules, lineage))
        first = first_day(wm, rules.tz, kpi_days) if kpi_days and wm else None
        counters.update({k: n for k, n in visits.items() if first is None or not expired(k, first)})
        today = local_day(wm, rules.tz) if wm else 0
        for g, seen in cov.items():
            from array import array
            arr = array("H", bytes(2 * len(households(g))))
            for i, dd in seen.items():
                arr[i] = dd
            counters.update(grid_counts(g, arr, today, lineage))
    res["counters"] = +counters
    return res
