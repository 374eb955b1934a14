"""The terminal simulator: a seeded, deterministic city of grid workers and cases.

:meth:`Simulator.advance` returns every message whose event time falls in
``(previous until, until]``, sorted by (time, key). The output for a time span does not
depend on how it is sliced into calls: each terminal and each case draws from its own
random stream, each terminal-day's plan from a stream of its own, and everything happens
at discrete event times.

Workers visit the households of their grid (:mod:`producers.walker`) and now and then
misbehave, so the pipeline has something to find: an off-grid excursion (``excursion_p``
per walk target: a stay of 15-40 minutes at a point of the nearest other grid) and a
silent terminal (``silent_p`` per terminal-day: 20-45 minutes of duty without fixes or
uploads). GPS batches are keyed by the terminal's grid (see docs/contract.md).
"""

from __future__ import annotations

import heapq
import math
import random
from array import array
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import shapely

from gridpulse.city.spatial import to_shape
from gridpulse.clock import HOUR_MS, fmt_local, local_day, day_start_ms
from gridpulse.schemas import CaseEvent, Fix, GpsBatch
from gridpulse.topics import CASE_EVENTS, GPS_FIXES

from .case_script import pick_category, pick_severity, script
from .walker import EXCURSION_P, M_PER_DEG_LAT, Walker

#: Relative case reporting intensity per local hour: low at night, peaking mid-morning.
HOURLY_RHYTHM = (0.15, 0.1, 0.1, 0.1, 0.1, 0.15, 0.3, 0.7, 1.6, 2.7, 3.0, 2.5,
                 1.2, 1.6, 2.3, 2.4, 2.0, 1.2, 0.7, 0.5, 0.4, 0.3, 0.25, 0.2)
DUTY_START_MIN = 8 * 60 + 30
DUTY_END_MIN = 17 * 60 + 30
#: Share of terminal-days with one silent spell, and how long it lasts (minutes).
SILENT_P = 0.05
SILENT_MIN = (20.0, 45.0)
#: An excursion's target is at least this far (metres) outside the worker's grid, if it can be.
EXCURSION_CLEAR_M = 100.0


@dataclass(frozen=True)
class Message:
    """One message for Kafka: logical topic, key, wire struct."""

    ts: int
    topic: str
    key: str
    value: CaseEvent | GpsBatch


class _Terminal:
    __slots__ = ("idx", "id", "worker", "grid", "rng", "walker", "pending", "next_upload",
                 "duty_day", "duty_start", "duty_end", "silent_start", "silent_end")

    def __init__(self, idx: int, grid: str, worker: str, rng: random.Random, walker: Walker):
        self.idx, self.grid, self.worker, self.rng, self.walker = idx, grid, worker, rng, walker
        self.id = f"T{idx:05d}"
        self.pending: list[Fix] = []
        self.next_upload = 0
        self.duty_day = -1
        self.duty_start = self.duty_end = 0
        self.silent_start = self.silent_end = 0  # [start, end): no fixes, no uploads


class Simulator:
    """Deterministic event source for a city (see module docstring)."""

    def __init__(self, city, *, seed: int, start_ms: int, tz: str, terminals: int = 13800,
                 cases_per_day: float = 15000, fix_interval_s: float = 10.0,
                 upload_interval_s: float = 60.0, late_share: float = 0.10,
                 excursion_p: float = EXCURSION_P, silent_p: float = SILENT_P) -> None:
        self.city, self.seed, self.tz = city, seed, tz
        self.excursion_p, self.silent_p = excursion_p, silent_p
        self._homes: dict[str, array] = {}
        self._neighbour: dict[str, tuple[str, object]] = {}  # grid -> (nearest other grid, its shape)
        self._centroids: tuple[np.ndarray, dict[str, int]] | None = None
        self.now = start_ms
        self.fix_ms = int(fix_interval_s * 1000)
        self.upload_ms = int(upload_interval_s * 1000)
        self.cases_per_day = cases_per_day
        self.late_share = late_share
        self._rhythm_total = sum(HOURLY_RHYTHM)
        self._case_rng = random.Random(seed * 7919 + 1)
        self._case_seq = 0
        self._next_case = self._draw_next_case(start_ms)
        self._scheduled: list[tuple[int, str, int, CaseEvent]] = []  # (ts, case, n, event)
        self.terminals = self._make_terminals(terminals)
        self._fix_heap = [(self._first_fix(t, start_ms), t.idx) for t in self.terminals]
        heapq.heapify(self._fix_heap)

    # -- terminals ---------------------------------------------------------------------
    def _make_terminals(self, n: int) -> list[_Terminal]:
        grids = [g.code for g in self.city.grids]
        order = random.Random(self.seed).sample(range(len(grids)), len(grids))
        out = []
        for i in range(n):
            grid = grids[order[i % len(grids)]]
            rng = random.Random(self.seed * 1_000_003 + i)
            walker = Walker(rng, lambda g=grid: self._households(g), lambda r, g=grid: self._excursion(g, r),
                            anywhere=lambda r, g=grid: self.city.random_point(g, r),
                            excursion_p=self.excursion_p)
            out.append(_Terminal(i, grid, f"W{i:05d}", rng, walker))
        return out

    def _households(self, grid: str) -> array:
        """The grid's household positions, flat (lon, lat, lon, ...), shared by its terminals.

        Built on a terminal's first fix; 4 KB a grid (the whole city: ~50 MB), far less
        than the tuples of :meth:`CityModel.households`, and the same positions.
        """
        homes = self._homes.get(grid)
        if homes is None:
            homes = self._homes[grid] = array("d", self.city.household_positions(grid).tobytes())
        return homes

    def _excursion(self, grid: str, rng: random.Random) -> tuple[float, float]:
        """Where an off-grid excursion from ``grid`` goes: a random point of the nearest other
        grid (by centroid), ``EXCURSION_CLEAR_M`` or more outside ``grid`` if one of 20 is."""
        got = self._neighbour.get(grid)
        if got is None:
            got = self._neighbour[grid] = (self._nearest_other_grid(grid), to_shape(self.city.polygons(grid)))
        other, home = got
        m_per_deg = M_PER_DEG_LAT * math.cos(math.radians(self.city.grid(grid).centroid[1]))
        for _ in range(20):
            lon, lat = self.city.random_point(other, rng)
            if shapely.distance(home, shapely.Point(lon, lat)) * m_per_deg >= EXCURSION_CLEAR_M:
                break
        return lon, lat

    def _nearest_other_grid(self, grid: str) -> str:
        grids = self.city.grids
        if self._centroids is None:
            self._centroids = np.array([g.centroid for g in grids]), {g.code: i for i, g in enumerate(grids)}
        c, pos = self._centroids
        lon, lat = self.city.grid(grid).centroid
        d2 = ((c[:, 0] - lon) * math.cos(math.radians(lat))) ** 2 + (c[:, 1] - lat) ** 2
        d2[pos[grid]] = math.inf
        return grids[int(d2.argmin())].code

    def _duty(self, t: _Terminal, day: int) -> tuple[int, int, int, int]:
        """Terminal ``t``'s plan for local day ``day`` (ms): duty start and end, 08:30-17:30
        give or take, and a silent spell ``[start, end)`` within duty (0, 0 on most days)."""
        r = random.Random((self.seed * 31 + t.idx) * 100_003 + day)
        base = day_start_ms(day, self.tz)
        start = base + int((DUTY_START_MIN + r.uniform(-20, 30)) * 60_000)
        end = base + int((DUTY_END_MIN + r.uniform(-30, 30)) * 60_000)
        if r.random() >= self.silent_p:
            return start, end, 0, 0
        length = int(r.uniform(*SILENT_MIN) * 60_000)
        quiet = start + int(r.uniform(0, end - start - length))
        return start, end, quiet, quiet + length

    def _first_fix(self, t: _Terminal, ts: int) -> int:
        return ts + t.idx * 7919 % self.fix_ms

    def _on_duty(self, t: _Terminal, ts: int) -> bool:
        day = local_day(ts, self.tz)
        if day != t.duty_day:
            t.duty_day = day
            t.duty_start, t.duty_end, t.silent_start, t.silent_end = self._duty(t, day)
        return t.duty_start <= ts < t.duty_end

    def _step_terminal(self, t: _Terminal, ts: int, out: list[Message]) -> int:
        """Take the fix due at ``ts``; returns when the next one is due."""
        on = self._on_duty(t, ts)
        if on and t.silent_start <= ts < t.silent_end:
            # silent: the worker walks on, the terminal sends nothing (it flushed before)
            t.walker.step(ts, self.fix_ms / 1000)
            return ts + self.fix_ms
        if on:
            lon, lat, acc = t.walker.fix(ts, self.fix_ms / 1000)
            t.pending.append(Fix(ts, round(lon, 6), round(lat, 6), acc))
            if not t.next_upload:
                t.next_upload = ts + (t.idx * 104_729 % self.upload_ms)
        going_silent = t.silent_start <= ts + self.fix_ms < t.silent_end
        if t.pending and (ts >= t.next_upload or not on or going_silent):
            out.append(Message(ts, GPS_FIXES, t.grid, GpsBatch(
                id=f"{t.id}-{t.pending[0].ts}", terminal=t.id, worker=t.worker,
                grid=t.grid, fixes=t.pending)))
            t.pending = []
            t.next_upload = ts + self.upload_ms
        if on or ts < t.duty_start:
            nxt = ts + self.fix_ms
            return nxt if on or nxt >= t.duty_start else self._aligned(t, ts, t.duty_start)
        # off duty for the rest of the day: sleep until tomorrow's duty starts
        start = self._duty(t, t.duty_day + 1)[0]
        return self._aligned(t, ts, start)

    def _aligned(self, t: _Terminal, ts: int, at: int) -> int:
        """The first fix time at or after ``at`` on this terminal's fix phase."""
        return at + (ts - at) % self.fix_ms

    # -- cases -------------------------------------------------------------------------
    def _rate_per_ms(self, ts: int) -> float:
        hour = int(fmt_local(ts, self.tz, "%H"))
        return self.cases_per_day * HOURLY_RHYTHM[hour] / self._rhythm_total / HOUR_MS

    def _draw_next_case(self, ts: int) -> int:
        # Piecewise-constant Poisson process: draw with this hour's rate; if the draw
        # crosses the hour, restart at the boundary (memoryless, so this is exact).
        while True:
            rate = self._rate_per_ms(ts)
            nxt = ts + int(self._case_rng.expovariate(rate)) + 1 if rate > 0 else math.inf
            boundary = (ts // HOUR_MS + 1) * HOUR_MS
            if nxt < boundary:
                return nxt
            ts = boundary

    def _new_case(self, ts: int) -> None:
        crng = self._case_rng
        self._case_seq += 1
        t = self.terminals[crng.randrange(len(self.terminals))]
        rng = random.Random(self.seed * 15_485_863 + self._case_seq)
        cat, sev = pick_category(rng), pick_severity(rng)
        lon, lat = self.city.random_point(t.grid, rng)
        case = f"C{fmt_local(ts, self.tz, '%Y%m%d')}-{self._case_seq:07d}"
        base = dict(case=case, grid=t.grid, category=cat.code, severity=sev,
                    lon=round(lon, 6), lat=round(lat, 6))
        self._schedule(ts, case, 0, CaseEvent(id=f"{case}.0", type="reported", ts=ts,
                                              terminal=t.id, actor=t.worker, **base))
        for n, s in enumerate(script(rng, cat, sev, self.late_share), start=1):
            extra = {k: v for k, v in (("dept", s.dept), ("actor", s.actor), ("reason", s.reason),
                                       ("satisfaction", s.satisfaction)) if v is not None}
            self._schedule(ts + s.at, case, n, CaseEvent(id=f"{case}.{n}", type=s.stage,
                                                         ts=ts + s.at, **base, **extra))

    def _schedule(self, ts: int, case: str, n: int, ev: CaseEvent) -> None:
        heapq.heappush(self._scheduled, (ts, case, n, ev))

    # -- driving -----------------------------------------------------------------------
    def advance(self, until: int) -> list[Message]:
        """Every message with event time in ``(self.now, until]``, sorted by (time, key)."""
        out: list[Message] = []
        while self._next_case <= until:
            self._new_case(self._next_case)
            self._next_case = self._draw_next_case(self._next_case)
        heap = self._fix_heap
        while heap and heap[0][0] <= until:
            ts, idx = heapq.heappop(heap)
            heapq.heappush(heap, (self._step_terminal(self.terminals[idx], ts, out), idx))
        sched = self._scheduled
        while sched and sched[0][0] <= until:
            ts, case, _, ev = heapq.heappop(sched)
            out.append(Message(ts, CASE_EVENTS, case, ev))
        self.now = until
        out.sort(key=lambda m: (m.ts, m.key, m.value.id))
        return out

    def run(self, until: int, step_ms: int = 60_000) -> Iterator[Message]:
        """All messages up to ``until``, generated ``step_ms`` at a time."""
        while self.now < until:
            yield from self.advance(min(until, self.now + step_ms))


def start_of_duty(now_ms: int, tz: str) -> int:
    """``now_ms`` if the city is on duty now, else the next (or today's) 08:30 local."""
    day = local_day(now_ms, tz)
    base = day_start_ms(day, tz)
    start, end = base + DUTY_START_MIN * 60_000, base + DUTY_END_MIN * 60_000
    if start <= now_ms < end:
        return now_ms
    return start if now_ms < start else start + 86_400_000
