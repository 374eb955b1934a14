"""The case projection of one Kafka partition: the closed loop, its clocks and KPIs. No I/O.

Each case keeps its history sorted by event time; its state is the fold of that history
(:mod:`gridpulse.loop.lifecycle`) and its share of every KPI is
:func:`gridpulse.loop.facts.contribution`. When a case or the clock changes, only the
difference of its contribution is applied to the partition's counters, so the counters
always equal the plain sum over cases that the batch oracle computes.

"Now" is the partition's watermark: the newest time of an event it applied (one the loop
accepted; a rule-breaking event does not count) or of a clock tick (a partition quiet
while others move is brought along by ticks, see ``streams/clock.py``). A deadline index
(a heap of instants) wakes exactly the cases whose facts change as now passes a warning,
a deadline or an escalation, so 100,000 open cases are not scanned every tick.
Rule-breaking events wait for the allowed lateness (a late predecessor may still make
them valid) and then go to the dead-letter topic.

What keeps the projection bounded (archiving, the counter horizon) and rebuilds it after
a load is in :mod:`streams.case_upkeep`.
"""

from __future__ import annotations

import heapq
from collections import Counter
from typing import Callable

from gridpulse.loop.facts import CaseInfo, Rules, alerts, contribution, next_change, typical_from
from gridpulse.loop.lifecycle import CaseView, fold
from gridpulse.loop import record
from gridpulse.loop.horizon import expired
from gridpulse.loop.record import CaseRecord, entry as _entry
from gridpulse.schemas import Alert, CaseEvent, DeadLetter, dead_letter, encode

from .case_upkeep import Upkeep
from .log_tie import TiedToLog

Lineage = tuple[str, ...]  # (grid, community, town, district, city)


class CasePartition(Upkeep, TiedToLog):
    """Projection of one ``case-events`` partition."""

    def __init__(self, partition: int, lineage: Callable[[str], Lineage], rules: Rules,
                 lateness_ms: int, topic: str = "case-events", keep_ms: int = 0,
                 kpi_days: int = 0) -> None:
        self.partition, self.lineage, self.rules = partition, lineage, rules
        self.lateness, self.topic = lateness_ms, topic
        self.keep = keep_ms  # archive horizon (0: never archive)
        self.kpi_days = kpi_days  # days of per-day counters held (0: all)
        self.first_day: int | None = None  # the first day held, once one was dropped
        self._first_ms = 0  # ... and when it starts
        self.offset = -1  # last applied Kafka offset
        self.watermark = 0  # "now": max event time applied
        self.received = 0  # newest record timestamp applied: when the broker got it
        self._tie()  # what ties it to its log (streams/log_tie.py)
        self.cases: dict[str, CaseRecord] = {}
        self.views: dict[str, CaseView] = {}
        self.contrib: dict[str, list[str]] = {}
        # case -> its SLA clocks (Rules.clock's memo): kept while time can still change
        # the case, dropped once it is settled, so the clocks held follow the open cases
        self.clock_memo: dict[str, dict] = {}
        self.counters: Counter[str] = Counter()
        self.recent: dict[str, int] = {}  # case id -> report time
        self.lastcase: dict[str, int] = {}  # grid -> newest report time (for silent grids)
        self.rows: dict[str, tuple] = {}  # open case -> its row in the case lists
        self._heap: list[tuple[int, str]] = []
        self._typical: dict[tuple[str, str], dict[int, int | None]] = {}
        self.faulted: dict[str, str] = {}  # case -> why the rules raised on it (see _fault)
        self.frozen: Counter[str] = Counter()  # the counters' share of archived cases
        # closed cases that time alone no longer changes -> their newest event time
        self.quiet: dict[str, int] = {}
        self._archive_heap: list[tuple[int, str]] = []  # (newest event time, quiet case)
        self.archived = 0  # cases archived since this projection was loaded
        self.clear_dirty()

    def typical(self, dept: str, category: str, day: int) -> int | None:
        """This partition's p75 handling time for ``dept``/``category`` before ``day``."""
        per_day = self._typical.setdefault((dept, category), {})
        if day not in per_day:
            per_day[day] = typical_from(self.counters.get, dept, category, day)
        return per_day[day]

    def _learned(self, key: str) -> None:
        # an h| counter moved: what was learned for that department and category is stale
        _, dept, cat, _ = key.split("|", 3)
        self._typical.pop((dept, cat), None)

    def count(self) -> int:
        """How many records the projection holds, saved as meta ``n``: its cases and its
        frozen counter keys (a lost key of either is then noticed, streams/recovery.py)."""
        return len(self.cases) + len(self.frozen)

    def clear_dirty(self) -> None:
        """Forget what changed (after a successful write)."""
        self.dirty_cases: set[str] = set()
        self.dirty_keys: set[str] = set()
        self.dirty_recent: set[str] = set()
        self.dropped_recent: set[str] = set()
        self.dirty_lastcase: set[str] = set()
        self.dirty_rows: set[str] = set()
        self.dirty_frozen: set[str] = set()
        self.evicted: set[str] = set()  # archived cases whose saved records must go
        self.alerts_out: list[Alert] = []
        self.dead_out: list[tuple[bytes, DeadLetter]] = []

    # -- applying events -------------------------------------------------------------
    def apply(self, ev: CaseEvent, offset: int, raw: bytes | None = None,
              received: int | None = None) -> bool:
        """Apply one validated event at Kafka ``offset`` (its record stamped ``received``,
        epoch ms); False if a replay or duplicate."""
        if offset <= self.offset:
            return False
        self.offset = offset
        if received is not None and received > self.received:
            self.received = received
        rec = self.cases.get(ev.case)
        if self.keep and self._refused_as_archived(ev, rec, offset, raw):
            return True  # a duplicate too: the same whether or not the record is gone yet
        if rec is not None and rec.has(ev.id):
            return False
        if rec is None:
            rec = self.cases[ev.case] = CaseRecord(ev.grid, ev.category, ev.severity, 0,
                                                   ev.lon, ev.lat, [])
        entry = _entry(ev)
        h = rec.history
        h.append(entry)
        if len(h) > 1 and h[-2] > entry:
            h.sort()
        if ev.type == "reported" and (rec.reported == 0 or ev.ts < rec.reported):
            # The earliest report defines where the case is and what it is.
            rec.reported, rec.grid, rec.category, rec.severity = ev.ts, ev.grid, ev.category, ev.severity
            rec.lon, rec.lat, rec.reporter = ev.lon, ev.lat, ev.actor or ""
            self.recent[ev.case] = ev.ts
            self._reported(ev.grid, ev.ts)
        view = self.refresh(ev.case)  # moves the watermark if the event is valid
        if raw is not None and any(eid == ev.id for eid, _ in view.rejected):
            rec.raw[ev.id] = raw  # kept until the lateness has passed
        return True

    def _refused_as_archived(self, ev: CaseEvent, rec: CaseRecord | None, offset: int,
                             raw: bytes | None) -> bool:
        """Dead-letter an event of an archived case, or one too old for a case not held."""
        cutoff, days = self.watermark - self.keep, self.keep / 86_400_000
        if rec is not None and ev.case in self.quiet and rec.history[-1].ts < cutoff:
            why = (f"case {ev.case} is archived: closed, and its newest event more than "
                   f"{days:g} days before now; it takes no more events")
        elif rec is None and ev.ts < cutoff:
            why = (f"dated more than {days:g} days before now, for a case this partition does "
                   f"not hold (archived, or reported that late)")
        else:
            return False
        self.dead_out.append((ev.case.encode(), dead_letter(
            self.topic, self.partition, offset, why, raw if raw is not None else encode(ev), self.watermark)))
        return True

    def tick(self, ts: int, offset: int, received: int | None = None) -> bool:
        """The city clock reached ``ts`` (a tick record at Kafka ``offset``)."""
        if offset <= self.offset:
            return False
        self.offset = offset
        if received is not None and received > self.received:
            self.received = received
        if ts > self.watermark:
            self.watermark = ts
        return True

    def _reported(self, grid: str, ts: int) -> None:
        if ts > self.lastcase.get(grid, 0):
            self.lastcase[grid] = ts
            self.dirty_lastcase.add(grid)

    def refresh(self, case: str) -> CaseView:
        """Recompute one case at the current watermark and apply the differences."""
        rec = self.cases[case]
        view = fold(rec.history, presorted=True)
        # Only events the loop accepts move "now": a rule-breaking event (often one from
        # a terminal with a wrong clock) must not age every other case of the partition.
        # One that a late predecessor makes valid moves it then.
        newest = _newest_valid(rec, view)
        if newest > self.watermark:
            self.watermark = newest
        now = self.watermark
        if view.rejected:
            view = self._settle_rejected(case, rec, view, now)
        info = CaseInfo(case, self.lineage(rec.grid), rec.category, rec.severity, rec.reported,
                        rec.reporter)
        memo = self.clock_memo.get(case)
        if memo is None:
            memo = self.clock_memo[case] = {}
        clocks = self.rules.clocks(view, info, memo) if view.stage is not None else []
        new = contribution(view, info, now, self.rules, clocks)
        row = _row(rec, view, clocks, new) if view.is_open else None
        if row != self.rows.get(case):
            if row is None:
                self.rows.pop(case, None)
            else:
                self.rows[case] = row
            self.dirty_rows.add(case)
        old = self.contrib.get(case, ())
        if new != old:
            c, d = self.counters, self.dirty_keys
            new_set, old_set = frozenset(new), frozenset(old)
            if len(new_set) == len(new) and len(old_set) == len(old):
                # No key repeats (nearly every case): set differences are exact, and most
                # steps change a handful of keys out of dozens.
                moves = [(k, -1) for k in old_set - new_set]
                moves += [(k, 1) for k in new_set - old_set]
            else:  # a case handled twice in one bucket of one day counts twice there
                diff = Counter(new)
                diff.subtract(old)
                moves = [(k, n) for k, n in diff.items() if n]
            if self.first_day is not None and rec.history and rec.history[0].ts < self._first_ms:
                # A case older than the horizon: its moves on days dropped are dropped too.
                moves = [(k, n) for k, n in moves if not expired(k, self.first_day)]
            for k, n in moves:
                c[k] += n
                d.add(k)
                if k[0] == "h":
                    self._learned(k)
            self.contrib[case] = new
        due = alerts(view, info, now - self.lateness, self.rules, clocks, self.typical)
        if due:
            emitted = set(rec.emitted)
            for a in due:
                if a.id not in emitted:
                    rec.emitted.append(a.id)
                    self.alerts_out.append(a)
        self.views[case] = view
        wake = next_change(view, info, now, self.lateness, self.rules, clocks, self.typical)
        if view.rejected:
            held = {e for e, _ in view.rejected}
            pending = [h.ts + self.lateness for h in rec.history
                       if h.id in held and h.ts + self.lateness > now]
            if pending:
                wake = min(pending + ([wake] if wake else []))
        if wake is not None:
            heapq.heappush(self._heap, (wake, case))
        settled = view.stage is not None and not view.is_open and not view.rejected \
            and self._settled(view, info, clocks, now, memo)
        if settled:
            del self.clock_memo[case]  # rebuilt if an event ever moves the case again
        if self.keep and settled:
            newest = rec.history[-1].ts
            if self.quiet.get(case) != newest:  # archived once its newest event is old enough
                self.quiet[case] = newest
                heapq.heappush(self._archive_heap, (newest, case))
        else:
            self.quiet.pop(case, None)
        self.dirty_cases.add(case)
        if case in self.recent:
            self.dirty_recent.add(case)
        return view

    def _settled(self, view: CaseView, info: CaseInfo, clocks: list, now: int, memo: dict) -> bool:
        """Whether time alone can no longer change the case: every clock has stopped, the
        last more than the lateness ago (a stopped clock raises nothing after its stop,
        and a case that is not open counts the same at any "now")."""
        if len(view.checks) > 1:
            clocks = clocks + self.rules.earlier_checks(view, info, memo)
        return all(stop is not None and stop <= now - self.lateness for _, stop in clocks)

    def _settle_rejected(self, case: str, rec: CaseRecord, view: CaseView, now: int) -> CaseView:
        """Dead-letter rule-breaking events the lateness can no longer excuse."""
        final = {eid: why for eid, why in view.rejected}
        gone = [h for h in rec.history if h.id in final and h.ts <= now - self.lateness]
        if not gone:
            return view
        for h in gone:
            raw = rec.raw.pop(h.id, None) or encode(CaseEvent(
                id=h.id, case=case, type=h.type, ts=h.ts, grid=rec.grid, category=rec.category,
                severity=rec.severity, dept=h.dept, satisfaction=h.satisfaction, actor=h.actor,
                terminal=h.terminal, lon=h.lon, lat=h.lat, reason=h.reason, note=h.note))
            self.dead_out.append((case.encode(), dead_letter(
                self.topic, self.partition, -1, final[h.id], raw, now)))
            rec.dead.append(h.id)
        ids = {h.id for h in gone}
        rec.history = [h for h in rec.history if h.id not in ids]
        if not rec.history and self.keep:
            # Nothing of it was ever valid (often a late event of an archived case whose
            # record was gone): it counts nothing, and archive() drops it.
            heapq.heappush(self._archive_heap, (-1, case))
        view.rejected = [(e, w) for e, w in view.rejected if e not in ids]
        return view  # skipped events never changed the fold

    def advance(self) -> int:
        """Wake the cases whose deadlines the watermark passed; returns how many."""
        heap, now, woken = self._heap, self.watermark, set()
        while heap and heap[0][0] <= now:
            _, case = heapq.heappop(heap)
            if case not in woken and case not in self.faulted and case in self.cases \
                    and case not in self.quiet:  # time changes nothing of a quiet case
                woken.add(case)
                try:
                    self.refresh(case)
                except Exception as exc:  # noqa: BLE001 - a bug; see _fault
                    self._fault(case, exc)
        return len(woken)

    def _fault(self, case: str, exc: Exception) -> None:
        """The rules raised on ``case`` while only time moved: a bug, and no record's
        fault (blaming the record that moved "now" would blame every later one too).
        The case keeps the figures it had, is no longer woken, and one dead letter
        names it, with its saved record, so an operator sees it."""
        self.faulted[case] = why = f"{type(exc).__name__}: {exc}"
        self.dead_out.append((case.encode(), dead_letter(
            self.topic, self.partition, -1,
            f"processing failed for case {case} as time passed: {why} (its figures stay as they were)",
            record.ENCODER.encode(self.cases[case]), self.watermark)))

    def row(self, case: str) -> dict:
        """An open case's row in the case lists (``gp:case:<p>:open``)."""
        reported, grid, category, severity, stage, dept, level, overdue, deadline = self.rows[case]
        lin = self.lineage(grid)
        return {"case": case, "ts": reported, "grid": grid, "community": lin[1], "town": lin[2],
                "district": lin[3], "category": category, "severity": severity, "stage": stage,
                "dept": dept, "level": level, "overdue": overdue, "deadline": deadline}

    def summary(self, case: str) -> dict:
        """The ticker / map summary of a case."""
        rec, view = self.cases[case], self.views[case]
        lin = self.lineage(rec.grid)
        return {"case": case, "ts": rec.reported, "grid": rec.grid, "district": lin[3],
                "category": rec.category, "severity": rec.severity, "lon": rec.lon,
                "lat": rec.lat, "stage": view.stage, "dept": view.dept, "level": view.level}


def _newest_valid(rec: CaseRecord, view: CaseView) -> int:
    """Event time of the case's newest event that the fold accepted (0 if none)."""
    if not view.rejected:
        return rec.history[-1].ts if rec.history else 0
    bad = {eid for eid, _ in view.rejected}
    return max((h.ts for h in rec.history if h.id not in bad), default=0)


def _row(rec: CaseRecord, view: CaseView, clocks, contrib) -> tuple:
    """What the case lists show of an open case: a tuple, cheap to compare for changes."""
    running = [c.deadline for c, stop in clocks if stop is None]
    return (rec.reported, rec.grid, rec.category, rec.severity, view.stage, view.dept or "",
            view.level, f"overdue|{rec.grid}" in contrib, min(running) if running else 0)
