"""Keeping a case projection bounded, and rebuilding it after a load. No I/O.

Archiving: a case that is no longer open, that time alone can no longer change (every
SLA clock stopped, at least the lateness ago), and whose newest event is more than
``keep_ms`` behind "now" takes no more events; :meth:`Upkeep.archive` then drops its
record, and its share of the counters moves into ``frozen`` (what a load starts the
counters from), so every sum stays what it was, except the per-minute report counts,
which it leaves (docs/contract.md, "Archived cases"). The counter horizon: the per-day
counters are dropped once their day falls ``kpi_days`` behind "now"
(:mod:`gridpulse.loop.horizon`). A load restores records and frozen counters; the rest
is recomputed (:meth:`Upkeep.rebuild`).

A mixin of :class:`streams.case_state.CasePartition`, whose state it works on.
"""

from __future__ import annotations

import heapq
from collections import Counter

from gridpulse.clock import day_start_ms
from gridpulse.loop.facts import CaseInfo, contribution
from gridpulse.loop.horizon import expired, first_day
from gridpulse.loop.lifecycle import fold

RECENT_MS = 2 * 3_600_000  # how long a reported case stays in the ticker / map points


class Upkeep:
    """Archiving, the counter horizon, the ticker's pruning and the rebuild after a load."""

    def archive(self) -> int:
        """Drop the records of the cases archived by now (see the module's docstring);
        returns how many. Their counter keys stay, their share now held in ``frozen``."""
        heap, cutoff, n = self._archive_heap, self.watermark - self.keep, 0
        while self.keep and heap and heap[0][0] < cutoff:
            _, case = heapq.heappop(heap)
            rec = self.cases.get(case)
            if rec is not None and not rec.history and not self.contrib.get(case):
                self._drop(case)  # an empty record (see _settle_rejected)
                continue
            if rec is None or case not in self.quiet or rec.history[-1].ts >= cutoff:
                continue  # gone already, or moved since it was queued
            keys = self.contrib.pop(case, ())
            frozen = [k for k in keys if not k.startswith("newmin|")]
            has_newmin = len(frozen) < len(keys)
            if self.first_day is not None:
                frozen = [k for k in frozen if not expired(k, self.first_day)]
            self.frozen.update(frozen)
            self.dirty_frozen.update(frozen)
            if has_newmin:
                # Per-minute report counts are read a day back at most, and an archived
                # case was reported days ago: they leave instead of piling up forever.
                for k in keys:
                    if k.startswith("newmin|"):
                        self.counters[k] -= 1
                        self.dirty_keys.add(k)
            self._drop(case)
            n += 1
        self.archived += n
        return n

    def expire_days(self) -> int:
        """Drop the per-day counters (live and frozen) whose day fell ``kpi_days`` behind
        "now" (:mod:`gridpulse.loop.horizon`); returns how many keys went. Checks every
        key once a day; in between, :meth:`refresh` drops the moves of old cases on days
        already dropped, so the counters depend on the log alone, not on batching."""
        if not self.kpi_days or not self.watermark:
            return 0
        first = first_day(self.watermark, self.rules.tz, self.kpi_days)
        if self.first_day is not None and first <= self.first_day:
            return 0
        self.first_day, self._first_ms = first, day_start_ms(first, self.rules.tz)
        gone = [k for k in self.counters if expired(k, first)]
        for k in gone:
            del self.counters[k]
            self.dirty_keys.add(k)
            if k[0] == "h":
                self._learned(k)
        old = [k for k in self.frozen if expired(k, first)]
        for k in old:
            del self.frozen[k]
            self.dirty_frozen.add(k)
        return len(gone) + len(old)

    def _drop(self, case: str) -> None:
        del self.cases[case]
        self.views.pop(case, None)
        self.contrib.pop(case, None)
        self.clock_memo.pop(case, None)
        self.quiet.pop(case, None)
        if self.rows.pop(case, None) is not None:
            self.dirty_rows.add(case)
        if self.recent.pop(case, None) is not None:
            self.dirty_recent.discard(case)
            self.dropped_recent.add(case)
        self.dirty_cases.discard(case)
        self.evicted.add(case)

    def prune_recent(self) -> None:
        """Drop ticker entries that fell behind the watermark (depends on it alone)."""
        cutoff = self.watermark - RECENT_MS
        for case in [c for c, ts in self.recent.items() if ts < cutoff]:
            del self.recent[case]
            self.dirty_recent.discard(case)
            self.dropped_recent.add(case)

    def rebuild(self, every: int = 2000):
        """Recompute views, counters and the deadline index from the records (after a load).

        A generator: it yields every ``every`` cases so a caller in an event loop can let
        other tasks run during a long load. The counters come out equal to the ones saved
        with the records, so they are not rewritten; alerts and dead letters the records
        do not list as sent yet are kept for sending (a crash may have come between
        publishing and saving).
        """
        self.views, self.contrib, self._heap, self.clock_memo = {}, {}, [], {}
        self.counters = Counter(self.frozen)  # archived cases count as they did
        self.quiet, self._archive_heap = {}, []
        self._typical = {}
        self.first_day = None
        self.lastcase = {}
        self.rows = {}
        for rec in self.cases.values():
            if rec.reported and rec.reported > self.lastcase.get(rec.grid, 0):
                self.lastcase[rec.grid] = rec.reported
        # First the counters alone: what the partition learned ("likely to breach") must
        # be complete before any case's alerts are judged against it.
        for i, (case, rec) in enumerate(list(self.cases.items())):
            try:
                view = fold(rec.history, presorted=True)
                info = CaseInfo(case, self.lineage(rec.grid), rec.category, rec.severity,
                                rec.reported, rec.reporter)
                memo = self.clock_memo[case] = {}
                clocks = self.rules.clocks(view, info, memo) if view.stage is not None else []
                self.contrib[case] = contribution(view, info, self.watermark, self.rules, clocks)
            except Exception as exc:  # noqa: BLE001 - a bug; a load must not stop on it
                self.clock_memo.pop(case, None)
                self._fault(case, exc)
                continue
            self.counters.update(self.contrib[case])
            if every and i % every == every - 1:
                yield i + 1
        # Held cases still list keys of days dropped; and a smaller horizon than the one
        # the counters were saved with drops keys Redis holds (written with the next batch).
        self.dirty_keys.clear()
        self.expire_days()
        expired_now = set(self.dirty_keys)
        for i, (case, rec) in enumerate(list(self.cases.items())):
            if case in self.faulted:
                continue
            sent = (len(rec.emitted), len(rec.dead))
            try:
                self.refresh(case)
            except Exception as exc:  # noqa: BLE001 - a bug; a load must not stop on it
                self._fault(case, exc)
                continue
            if (len(rec.emitted), len(rec.dead)) == sent:
                self.dirty_cases.discard(case)
            if every and i % every == every - 1:
                yield i + 1
        self.dirty_keys = expired_now
        self.dirty_recent.clear()
