"""The GPS projection of one Kafka partition: positions, terminal-days, visits, coverage. No I/O.

Per record (in offset order) a batch's fixes are accepted unless older than the
partition's horizon (its newest fix time minus the allowed lateness), the latest position
moves, and the clock ("now" = the newest fix time) wakes the terminals whose facts change
(a silence starts, an activity window ends). After a batch, every fix older than the
horizon becomes final and is fed, in time order, into its terminal-day's track
(:mod:`gridpulse.visits.day`): route, visits, off-grid record. Counters change by the
difference of each terminal's and grid's contribution (:mod:`gridpulse.visits.facts`), so
they always equal the plain sums the batch oracle computes from the same log.

Partitions are keyed by grid: all terminals of a grid, and so all visits to its
households, are in one partition, and coverage needs no cross-partition union.
"""

from __future__ import annotations

import heapq
from array import array
from collections import Counter
from typing import Callable

from gridpulse.clock import local_day
from gridpulse.loop.horizon import expired, first_day
import msgspec

from gridpulse.schemas import Alert, GpsBatch, dead_letter
from gridpulse.visits.day import Households, Lineage, Outbox, Terminal, Tracker, accept
from gridpulse.visits.facts import grid_counts, term_keys, term_next_change
from gridpulse.visits.rules import VisitRules

from .log_tie import TiedToLog

Position = tuple[int, float, float, str, str]  # (ts, lon, lat, grid, worker)
_term_enc = msgspec.msgpack.Encoder()


def household_index(hid: str) -> int:
    """Index of a household in its grid (ids are ``<grid>-<nnn>``)."""
    return int(hid.rsplit("-", 1)[1])


class GpsPartition(TiedToLog):
    """Projection of one ``gps-fixes`` partition."""

    def __init__(self, partition: int, lineage: Lineage | None = None,
                 rules: VisitRules = VisitRules(), households: Households | None = None,
                 contains: Callable[[str, float, float], bool] | None = None,
                 kpi_days: int = 0) -> None:
        self.partition = partition
        self.kpi_days = kpi_days  # days of per-day visit counters held (0: all)
        self.first_day = 0  # the first day held (gridpulse.loop.horizon)
        self.lineage = lineage or (lambda g: (g,))
        self.rules = rules
        self.households = households or (lambda g: ())
        self.tracker = Tracker(rules, self.households, contains or (lambda g, x, y: True), self.lineage)
        self.offset = -1
        self.watermark = 0
        self.first = 0  # the first fix time seen: when this partition began watching
        self._tie()  # what ties it to its log (streams/log_tie.py)
        self.positions: dict[str, Position] = {}
        self.terms: dict[str, Terminal] = {}
        self.cov: dict[str, array] = {}  # grid -> last visit day per household
        self.lastvisit: dict[str, int] = {}  # grid -> end of its newest visit
        self.counters: Counter[str] = Counter()
        self.t_contrib: dict[str, list[str]] = {}
        self.g_contrib: dict[str, dict[str, int]] = {}
        self.cov_day = 0
        self.late = 0  # fixes refused as older than the horizon
        self._heap: list[tuple[int, str]] = []
        self._due: dict[str, int] = {}
        self.out = Outbox()
        self.faulted: dict[str, str] = {}  # terminal -> why the rules raised on it (_fault)
        self.clear_dirty()

    def count(self) -> int:
        """How many records (cases, terminals) the projection holds: saved as meta ``n``."""
        return len(self.terms)

    def clear_dirty(self) -> None:
        """Forget what changed (after a successful write)."""
        self.dirty: set[str] = set()  # positions
        self.dirty_terms: set[str] = set()
        self.dirty_grids: set[str] = set()
        self.dirty_keys: set[str] = set()
        self.alerts_out: list[Alert] = []
        self.dead_out: list = []  # (key, DeadLetter) naming faulted terminals
        self.out.clear()

    @property
    def horizon(self) -> int:
        """Fixes older than this are final (and late ones are refused)."""
        return self.watermark - self.rules.lateness_ms

    # -- per record ------------------------------------------------------------------
    def apply(self, batch: GpsBatch, offset: int) -> bool:
        """Apply one validated batch at Kafka ``offset``; False if a replay."""
        if offset <= self.offset:
            return False
        self.offset = offset
        term = batch.terminal
        t = self.terms.get(term)
        if t is None:
            t = self.terms[term] = Terminal(term)
        h, best = self.horizon, None
        for f in batch.fixes:
            if accept(t, f.ts, f.lon, f.lat, f.acc, batch.worker, batch.grid, h):
                if best is None or (f.ts, f.lon, f.lat) > best[:3]:
                    best = (f.ts, f.lon, f.lat)
            else:
                self.late += 1
        if best is None:
            return True
        if best[0] > self.watermark:
            self.watermark = best[0]
        if not self.first:
            self.first = best[0]
        cur = self.positions.get(term)
        # Ties on time break on position so the winner never depends on arrival order.
        if cur is None or cur[:3] < best:
            self.positions[term] = (*best, batch.grid, batch.worker)
            self.dirty.add(term)
        self.dirty_terms.add(term)
        self._recount(t)
        self._tick()
        return True

    def _tick(self) -> None:
        """Wake the terminals whose facts change at or before now."""
        heap, now = self._heap, self.watermark
        while heap and heap[0][0] <= now:
            at, term = heapq.heappop(heap)
            if self._due.get(term) != at:
                continue  # superseded by an earlier wake-up
            del self._due[term]
            if term in self.faulted:
                continue
            try:
                self._recount(self.terms[term])
            except Exception as exc:  # noqa: BLE001 - a bug, not this record's: see _fault
                self._fault(term, exc)

    def _recount(self, t: Terminal) -> None:
        now, rules = self.watermark, self.rules
        keys = term_keys(t, now, rules, self.lineage)
        old = self.t_contrib.get(t.terminal, [])
        if keys != old:
            for k in old:
                self.counters[k] -= 1
            for k in keys:
                self.counters[k] += 1
            self.dirty_keys.update(old)
            self.dirty_keys.update(keys)
            self.t_contrib[t.terminal] = keys
        # One pending wake-up per terminal: a later one than needed is harmless (it wakes
        # early, finds nothing changed and schedules again); an earlier need replaces it.
        nxt = term_next_change(t, now, rules)
        cur = self._due.get(t.terminal)
        if nxt is not None and (cur is None or nxt < cur):
            self._due[t.terminal] = nxt
            heapq.heappush(self._heap, (nxt, t.terminal))

    # -- per batch -------------------------------------------------------------------
    def advance(self) -> None:
        """Finalize what the horizon passed; count visits, coverage and the day's alerts."""
        h, tracker, fresh = self.horizon, self.tracker, Outbox()
        for term, t in self.terms.items():
            if term in self.faulted:
                continue
            nv, na = len(fresh.visits), len(fresh.alerts)
            try:
                self._finalize(term, t, h, fresh)
            except Exception as exc:  # noqa: BLE001 - a bug; see _fault
                # Take back what this terminal put in the outbox (its keys are its own).
                del fresh.visits[nv:], fresh.alerts[na:]
                for k in [k for k in fresh.route if k[1] == term]:
                    del fresh.route[k]
                for k in [k for k in fresh.closed if k[1] == term]:
                    del fresh.closed[k]
                fresh.days = {k for k in fresh.days if k[1] != term}
                self._fault(term, exc)
        self._settle(fresh)

    def _fault(self, term: str, exc: Exception) -> None:
        """The rules raised on terminal ``term`` as time moved: a bug, and no record's
        fault. Its figures stay as they were, it is left alone from now on, and one dead
        letter names it so an operator sees it."""
        self.faulted[term] = why = f"{type(exc).__name__}: {exc}"
        self.dead_out.append((term.encode(), dead_letter(
            "gps-fixes", self.partition, -1,
            f"processing failed for terminal {term} as time passed: {why} (its figures stay as they were)",
            _term_enc.encode(self.terms[term]), self.watermark)))

    def _finalize(self, term: str, t: Terminal, h: int, fresh: Outbox) -> None:
        """Feed the fixes the horizon passed into the terminal's day; end a silent day."""
        tracker = self.tracker
        if t.pending and t.pending[0].ts < h:
            off = (t.off_since, t.off_last)
            tracker.finalize(t, h, fresh)
            self.dirty_terms.add(term)
            # Of what the terminal's facts read (facts.term_keys and
            # term_next_change), finalizing moves only its off-grid record: seen,
            # grid and worker are set by apply, which recounted it then, and the
            # wake-up heap has kept it current since. So recount only if that moved.
            if (t.off_since, t.off_last) != off:
                self._recount(t)
        if tracker.silence(t, h, fresh):
            self.dirty_terms.add(term)
        if not t.closed:
            tracker.expire(t, h, fresh)
            if t.closed:
                self.dirty_terms.add(term)

    def _settle(self, fresh: Outbox) -> None:
        """Count what finalizing produced and hand it to the store."""
        for v in fresh.visits:
            if v.household:
                self._visited(v)
        out = self.out
        for k, pts in fresh.route.items():
            out.route.setdefault(k, []).extend(pts)
        out.visits += fresh.visits
        out.days |= fresh.days
        out.closed.update(fresh.closed)
        self.alerts_out += fresh.alerts
        day = local_day(self.watermark, self.rules.tz) if self.watermark else 0
        grids = list(self.cov) if day != self.cov_day else list(self.dirty_grids)
        if day != self.cov_day:
            self.expire_days()
        self.cov_day = day
        for g in grids:
            self._recount_grid(g)

    def expire_days(self) -> None:
        """Drop the per-day visit counters whose day fell ``kpi_days`` behind "now"
        (:mod:`gridpulse.loop.horizon`); :meth:`_visited` counts nothing on those days."""
        if not self.kpi_days or not self.watermark:
            return
        first = first_day(self.watermark, self.rules.tz, self.kpi_days)
        if first <= self.first_day:
            return
        self.first_day = first
        for k in [k for k in self.counters if expired(k, first)]:
            del self.counters[k]
            self.dirty_keys.add(k)

    def _visited(self, v) -> None:
        if v.day >= self.first_day:  # (a visit on a day dropped counts nowhere)
            for a in self.lineage(v.grid):
                k = f"visits|{a}|{v.day}"
                self.counters[k] += 1
                self.dirty_keys.add(k)
        arr = self.cov.get(v.grid)
        if arr is None:
            arr = self.cov[v.grid] = array("H", bytes(2 * len(self.households(v.grid))))
        i = household_index(v.household)
        if v.day > arr[i]:
            arr[i] = v.day
        if v.end > self.lastvisit.get(v.grid, 0):
            self.lastvisit[v.grid] = v.end
        self.dirty_grids.add(v.grid)

    def _recount_grid(self, g: str) -> None:
        new = grid_counts(g, self.cov[g], self.cov_day, self.lineage)
        old = self.g_contrib.get(g, {})
        if new == old:
            return
        for k, n in old.items():
            self.counters[k] -= n
            self.dirty_keys.add(k)
        for k, n in new.items():
            self.counters[k] += n
            self.dirty_keys.add(k)
        self.g_contrib[g] = new

    # -- after a load ----------------------------------------------------------------
    def rebuild(self) -> None:
        """Recompute contributions and the wake-up index from restored state.

        The counters themselves are restored as saved; the contributions saved with them
        were computed at the saved watermark, so recomputing them there gives the same.
        """
        self.t_contrib, self.g_contrib, self._heap, self._due = {}, {}, [], {}
        now, rules = self.watermark, self.rules
        for term, t in self.terms.items():
            try:
                keys = term_keys(t, now, rules, self.lineage)
                nxt = term_next_change(t, now, rules)
            except Exception as exc:  # noqa: BLE001 - a bug; a load must not stop on it
                self._fault(term, exc)
                continue
            if keys:
                self.t_contrib[term] = keys
            if nxt is not None:
                self._heap.append((nxt, term))
                self._due[term] = nxt
        heapq.heapify(self._heap)
        self.cov_day = local_day(now, rules.tz) if now else 0
        for g, arr in self.cov.items():
            self.g_contrib[g] = grid_counts(g, arr, self.cov_day, self.lineage)
        faults = self.dead_out
        self.clear_dirty()
        self.dead_out = faults  # sent with the next batch
        self.first_day = 0
        self.expire_days()  # (drops only after a smaller horizon than the one saved)
