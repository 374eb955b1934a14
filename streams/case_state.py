"""The case projection of one Kafka partition: pure state, no I/O.

It answers, exactly and in any arrival order, how many cases are open per area and how
many were reported per minute and per local day. A case's history is kept sorted by
(event time, stage rank), so the projection depends only on the set of events applied,
not on their order; duplicates (same event id) are ignored.

Changes are tracked as *dirty* keys so the Redis writer sends only what changed, as
absolute values (idempotent under replay).
"""

from __future__ import annotations

from collections import Counter
from typing import Callable, Iterable

import msgspec

from gridpulse.clock import local_day, minute
from gridpulse.schemas import STAGES, TERMINAL_STAGES, CaseEvent

STAGE_RANK = {s: i for i, s in enumerate(STAGES)}
RECENT_MS = 2 * 3_600_000  # how long a reported case stays in the ticker / map points
MINUTES_KEPT = 48 * 60  # per-minute buckets older than this (behind the watermark) are dropped

Lineage = tuple[str, ...]  # (grid, community, town, district, city)


class CaseRecord(msgspec.Struct, array_like=True):
    """What a partition remembers of one case (persisted as msgpack)."""

    grid: str
    category: str
    severity: int
    reported: int  # event time of the report, 0 until the report is seen
    lon: float | None
    lat: float | None
    history: list[tuple[int, int, str, str]]  # (ts, rank, stage, event id), sorted

    def is_open(self) -> bool:
        """Open unless its latest step is a terminal stage."""
        return bool(self.history) and self.history[-1][2] not in TERMINAL_STAGES

    def has(self, event_id: str) -> bool:
        """Whether event ``event_id`` was already applied."""
        return any(h[3] == event_id for h in self.history)


class CasePartition:
    """Projection of one ``case-events`` partition."""

    def __init__(self, partition: int, lineage: Callable[[str], Lineage], tz: str) -> None:
        self.partition = partition
        self.lineage = lineage
        self.tz = tz
        self.offset = -1  # last applied Kafka offset
        self.watermark = 0  # max event time applied
        self.cases: dict[str, CaseRecord] = {}
        self.open: Counter[str] = Counter()
        self.new_min: Counter[str] = Counter()  # "area|minute"
        self.new_day: Counter[str] = Counter()  # "area|day"
        self.recent: dict[str, int] = {}  # case id -> report time
        self.clear_dirty()

    def clear_dirty(self) -> None:
        """Forget what changed (after a successful write)."""
        self.dirty_cases: set[str] = set()
        self.dirty_open: set[str] = set()
        self.dirty_min: set[str] = set()
        self.dirty_day: set[str] = set()
        self.dirty_recent: set[str] = set()
        self.dropped_recent: set[str] = set()

    # -- applying events -------------------------------------------------------------
    def apply(self, ev: CaseEvent, offset: int) -> bool:
        """Apply one validated event at Kafka ``offset``; False if it was a replay or duplicate."""
        if offset <= self.offset:
            return False
        self.offset = offset
        rec = self.cases.get(ev.case)
        if rec is not None and rec.has(ev.id):
            return False
        if rec is None:
            rec = CaseRecord(ev.grid, ev.category, ev.severity, 0, ev.lon, ev.lat, [])
            self.cases[ev.case] = rec
        was_open, old_grid = rec.is_open(), rec.grid
        entry = (ev.ts, STAGE_RANK[ev.type], ev.type, ev.id)
        h = rec.history
        h.append(entry)
        if len(h) > 1 and h[-2] > entry:
            h.sort()
        if ev.type == "reported" and (rec.reported == 0 or ev.ts < rec.reported):
            self._move_report(ev.case, rec, ev)
        now_open = rec.is_open()
        if (was_open, old_grid) != (now_open, rec.grid):
            if was_open:
                self._count_open(old_grid, -1)
            if now_open:
                self._count_open(rec.grid, +1)
        self.dirty_cases.add(ev.case)
        if ev.case in self.recent:  # its summary (stage) changed
            self.dirty_recent.add(ev.case)
        if ev.ts > self.watermark:
            self.watermark = ev.ts
        return True

    def apply_all(self, items: Iterable[tuple[int, CaseEvent]]) -> int:
        """Apply ``(offset, event)`` pairs; returns how many changed the state."""
        return sum(self.apply(ev, off) for off, ev in items)

    def _move_report(self, case: str, rec: CaseRecord, ev: CaseEvent) -> None:
        # The earliest report wins, whatever order reports arrive in.
        if rec.reported:
            self._count_new(rec.grid, rec.reported, -1)
        rec.reported = ev.ts
        # The report defines where the case is and what it is.
        rec.grid, rec.category, rec.severity = ev.grid, ev.category, ev.severity
        rec.lon, rec.lat = ev.lon, ev.lat
        self._count_new(rec.grid, ev.ts, +1)
        self.recent[case] = ev.ts
        self.dirty_recent.add(case)
        self.dropped_recent.discard(case)

    def _count_open(self, grid: str, delta: int) -> None:
        for area in self.lineage(grid):
            self.open[area] += delta
            self.dirty_open.add(area)

    def _count_new(self, grid: str, ts: int, delta: int) -> None:
        lin = self.lineage(grid)
        day = local_day(ts, self.tz)
        for area in lin:
            k = f"{area}|{day}"
            self.new_day[k] += delta
            self.dirty_day.add(k)
        m = minute(ts)
        for area in lin[3:]:  # per-minute series for districts and the city
            k = f"{area}|{m}"
            self.new_min[k] += delta
            self.dirty_min.add(k)

    # -- housekeeping ----------------------------------------------------------------
    def prune(self) -> None:
        """Drop per-minute buckets and recent cases that fell behind the watermark.

        Pruning depends only on the watermark, which itself depends only on the set of
        applied events, so a replay prunes exactly the same keys.
        """
        cutoff_min = minute(self.watermark) - MINUTES_KEPT
        for k in [k for k in self.new_min if int(k.rsplit("|", 1)[1]) < cutoff_min]:
            del self.new_min[k]
            self.dirty_min.add(k)
        cutoff = self.watermark - RECENT_MS
        for case in [c for c, ts in self.recent.items() if ts < cutoff]:
            del self.recent[case]
            self.dirty_recent.discard(case)
            self.dropped_recent.add(case)

    def summary(self, case: str) -> dict:
        """The ticker / map summary of a case."""
        rec = self.cases[case]
        lin = self.lineage(rec.grid)
        return {"case": case, "ts": rec.reported, "grid": rec.grid, "district": lin[3],
                "category": rec.category, "severity": rec.severity,
                "lon": rec.lon, "lat": rec.lat, "stage": rec.history[-1][2]}
