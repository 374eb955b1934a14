"""The case KPIs and SLA alerts as docs/contract.md states them, written from its words.

An outside team's reading of the contract: it was written from docs/contract.md,
README.md, docs/working-calendar.md, the policy data files the contract points to
(``gridpulse/loop/sla_default.toml``, ``gridpulse/loop/holidays.toml``) and the catalog
codes, without looking at how gridpulse computes them. The wire structs and the city
model are used as data. ``tests/oracle.py`` reuses the project's own rules, so it shows
that streaming equals batch; comparing it with this one shows that both equal the
contract.

Entry point: :func:`contract_views`. Section names in the comments are those of
docs/contract.md.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from fractions import Fraction
from pathlib import Path
from zoneinfo import ZoneInfo

from aiokafka.partitioner import DefaultPartitioner

from gridpulse.schemas import Alert, CaseEvent

LOOP_DIR = Path(__file__).resolve().parent.parent / "gridpulse" / "loop"
SLA_FILE = LOOP_DIR / "sla_default.toml"
HOLIDAYS_FILE = LOOP_DIR / "holidays.toml"

MINUTE = 60_000
HOUR = 3_600_000
DAY = 86_400_000

# "Order": equal times are taken in this order of types, then by id.
TYPE_ORDER = ("reported", "registered", "dispatched", "accepted", "handled", "returned",
              "reassigned", "verified", "closed", "evaluated", "reopened", "escalated")

# "A case is open while its stage is ..." (KPI counter keys).
OPEN_STAGES = frozenset({"reported", "registered", "dispatched", "accepted", "handled",
                         "verified", "returned", "reopened"})

# The lifecycle table's "may follow" column; `escalated` is judged apart.
MAY_FOLLOW = {
    "reported": (None,),
    "registered": ("reported",),
    "dispatched": ("registered", "returned", "reopened"),
    "accepted": ("dispatched",),
    "handled": ("dispatched", "accepted"),
    "returned": ("dispatched", "accepted"),
    "reassigned": ("dispatched", "accepted"),
    "verified": ("handled",),
    "closed": ("verified",),
    "evaluated": ("closed",),
    "reopened": ("verified", "closed", "evaluated"),
}

# "Histogram buckets": upper edges in minutes.
DURATION_EDGES_MIN = (1, 2, 3, 5, 7, 10, 15, 20, 30, 45, 60, 90, 120, 180, 240, 360, 480,
                      720, 960, 1440, 2160, 2880, 4320, 7200, 10080, 20160, 43200)

# `dur` stage pairs: name -> (stage entered first, stage entered second).
DUR_PAIRS = {
    "register": ("reported", "registered"),
    "dispatch": ("registered", "dispatched"),
    "accept": ("dispatched", "accepted"),
    "verify": ("handled", "verified"),
    "close": ("verified", "closed"),
    "evaluate": ("closed", "evaluated"),
}


# ---------------------------------------------------------------------------- time


def local_day(t: int, tz: str) -> int:
    """`<day>`: floor((t + the zone's UTC offset at t) / 86,400,000)."""
    off = datetime.fromtimestamp(t / 1000, tz=timezone.utc).astimezone(ZoneInfo(tz)).utcoffset()
    return (t + int(off.total_seconds() * 1000)) // DAY


def bucket(d_ms: int) -> int:
    """The histogram bucket of a duration: edge[b-1] < m <= edge[b], 27 past the last."""
    m = Fraction(d_ms, MINUTE)
    for b, edge in enumerate(DURATION_EDGES_MIN):
        if m <= edge:
            return b
    return len(DURATION_EDGES_MIN)


def quantile_ms(counts: dict[int, int], q: Fraction) -> int | None:
    """Upper edge (ms) of the first bucket whose running total reaches q x n; None when
    n is 0 or that bucket is the one past the last edge."""
    n = sum(counts.values())
    if n == 0:
        return None
    running = 0
    for b in range(len(DURATION_EDGES_MIN) + 1):
        running += counts.get(b, 0)
        if running >= q * n:
            return DURATION_EDGES_MIN[b] * MINUTE if b < len(DURATION_EDGES_MIN) else None
    return None


# ------------------------------------------------------------------ working calendar


@dataclass
class Calendar:
    """docs/working-calendar.md: office hours on working days, holidays and make-up days."""

    tz: str
    day_start: time
    day_end: time
    weekdays: frozenset[int]
    days_off: frozenset[date]
    workdays: frozenset[date]

    @classmethod
    def load(cls, path: Path = HOLIDAYS_FILE) -> Calendar:
        """Read a working-calendar TOML file (format: docs/working-calendar.md)."""
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
        cal = doc.get("calendar", {})
        off: set[date] = set()
        work: set[date] = set()
        for h in doc.get("holidays", []):
            d, last = h["first"], h.get("last", h["first"])
            while d <= last:
                off.add(d)
                d += timedelta(days=1)
            work.update(h.get("workdays", []))
        return cls(tz=cal.get("tz", "Asia/Shanghai"),
                   day_start=time.fromisoformat(cal.get("day_start", "08:30")),
                   day_end=time.fromisoformat(cal.get("day_end", "17:30")),
                   weekdays=frozenset(cal.get("weekdays", [0, 1, 2, 3, 4])),
                   days_off=frozenset(off), workdays=frozenset(work))

    @property
    def working_day_ms(self) -> int:
        """One working day ("1d" in working time): the office hours of a day."""
        start = self.day_start.hour * 60 + self.day_start.minute
        end = self.day_end.hour * 60 + self.day_end.minute
        return (end - start) * MINUTE

    def is_working_day(self, d: date) -> bool:
        """A make-up day works; a holiday does not; otherwise the weekday decides."""
        if d in self.workdays:
            return True
        if d in self.days_off:
            return False
        return d.weekday() in self.weekdays

    def add(self, start: int, amount_ms: int) -> int:
        """The first instant at which `amount_ms` of office time has passed since
        `start` (the end of office hours itself when it runs out exactly there)."""
        zone = ZoneInfo(self.tz)
        d = datetime.fromtimestamp(start / 1000, tz=zone).date()
        left = amount_ms
        while True:
            if self.is_working_day(d):
                open_ = int(datetime.combine(d, self.day_start, zone).timestamp() * 1000)
                close = int(datetime.combine(d, self.day_end, zone).timestamp() * 1000)
                begin = max(start, open_)
                if begin < close:
                    if left <= close - begin:
                        return begin + left
                    left -= close - begin
            d += timedelta(days=1)


# ------------------------------------------------------------------------ SLA policy


_PART = re.compile(r"(\d+(?:\.\d+)?)([dhm])")


@dataclass
class Policy:
    """The SLA policy file (gridpulse/loop/sla_default.toml): allotted times per clock,
    category and severity; warning fraction; escalation multiples; urgent severities."""

    doc: dict
    calendar: Calendar

    @classmethod
    def load(cls, path: Path = SLA_FILE, calendar: Calendar | None = None) -> Policy:
        """Read an SLA policy TOML file and the working calendar it runs on."""
        return cls(tomllib.loads(path.read_text(encoding="utf-8")), calendar or Calendar.load())

    @property
    def warn_fraction(self) -> Fraction:
        """`warning` at this share of the allotted time."""
        return Fraction(str(self.doc.get("warn_fraction", 0.8)))

    @property
    def multiples(self) -> list[Fraction]:
        """`escalation` level i+1 at multiples[i] x the allotted time."""
        return [Fraction(str(m)) for m in self.doc["escalation"]["multiples"]]

    def urgent(self, severity: int) -> bool:
        """Urgent severities run 24/7; the others on the working calendar."""
        return severity in self.doc.get("urgent_severities", [1])

    def _duration(self, text: str, urgent: bool) -> Fraction:
        day = DAY if urgent else self.calendar.working_day_ms
        unit = {"d": day, "h": HOUR, "m": MINUTE}
        parts = _PART.findall(text)
        assert parts and "".join(n + u for n, u in parts) == text, text
        return sum((Fraction(n) * unit[u] for n, u in parts), Fraction(0))

    def allotted(self, clock: str, category: str, severity: int) -> Fraction:
        """The allotted time in the clock's own time (ms), most specific entry first."""
        urgent = self.urgent(severity)
        table = self.doc.get(clock, {})
        by_sev = table.get("severity", {}).get(str(severity), {})
        scale = Fraction(str(by_sev.get("scale", 1)))
        if category in by_sev:
            return self._duration(by_sev[category], urgent)
        if category in table:
            return self._duration(table[category], urgent) * scale
        if "default" in by_sev:
            return self._duration(by_sev["default"], urgent)
        return self._duration(table["default"], urgent) * scale

    def at(self, start: int, clock_ms: Fraction, severity: int) -> int:
        """The instant `clock_ms` of the clock's own time after `start` (rounded up to
        the millisecond: the first one at which that much has passed)."""
        ms = math.ceil(clock_ms)
        if self.urgent(severity):
            return start + ms
        return self.calendar.add(start, ms)


# ----------------------------------------------------------------- one case's history


@dataclass
class Clock:
    """One SLA clock of a case."""

    name: str  # dispatch, handle, verify
    start: int
    dept: str | None = None  # a handle clock's department
    stop: int | None = None  # None while it runs
    ended_by: str | None = None  # the event type that stopped it


@dataclass
class Case:
    """A case as its valid events left it."""

    id: str
    report: CaseEvent | None = None
    stage: str | None = None
    dept: str | None = None
    level: int = 0
    satisfaction: int | None = None
    last_evaluated: int | None = None
    first_entered: dict[str, int] = field(default_factory=dict)
    clocks: list[Clock] = field(default_factory=list)
    applied: list[CaseEvent] = field(default_factory=list)
    refused: list[tuple[CaseEvent, str]] = field(default_factory=list)

    def running(self, name: str) -> Clock | None:
        """The running clock of that name, if any."""
        for c in self.clocks:
            if c.name == name and c.stop is None:
                return c
        return None

    def refusal(self, ev: CaseEvent) -> str | None:
        """Why the lifecycle refuses `ev` at this point of the history, or None."""
        if ev.type == "reported":
            return None if self.stage is None else "a second report is refused"
        if self.stage is None:
            return f"unknown case {ev.case}"
        if ev.type == "escalated":
            if self.stage not in OPEN_STAGES:
                return f"escalated cannot follow {self.stage}"
            if self.level >= 3:
                return "already escalated to the city"
            return None
        if self.stage not in MAY_FOLLOW[ev.type]:
            return f"{ev.type} cannot follow {self.stage}"
        if ev.type in ("dispatched", "reassigned") and ev.dept is None:
            return f"{ev.type} must name dept"
        if ev.type in ("accepted", "handled", "returned") and ev.dept != self.dept:
            return f"wrong department {ev.dept}, the case is with {self.dept}"
        return None

    def apply(self, ev: CaseEvent) -> None:
        """Move the case by a valid event."""
        t, typ = ev.ts, ev.type
        self.applied.append(ev)
        if typ == "escalated":
            self.level += 1
            return
        entered = "dispatched" if typ == "reassigned" else typ
        self.first_entered.setdefault(entered, t)
        if typ == "reported":
            self.report = ev
        elif typ in ("registered", "reopened"):
            self.clocks.append(Clock("dispatch", t))
        elif typ == "dispatched":
            self._stop("dispatch", t, typ)
            self.dept = ev.dept
            self.clocks.append(Clock("handle", t, dept=ev.dept))
        elif typ == "handled":
            self._stop("handle", t, typ)
            self.clocks.append(Clock("verify", t))
        elif typ == "returned":
            self._stop("handle", t, typ)
            self.dept = None
            self.clocks.append(Clock("dispatch", t))
        elif typ == "reassigned":
            self._stop("handle", t, typ)
            self.dept = ev.dept
            self.clocks.append(Clock("handle", t, dept=ev.dept))
        elif typ == "verified":
            self._stop("verify", t, typ)
        elif typ == "evaluated":
            self.satisfaction = ev.satisfaction
            self.last_evaluated = t
        self.stage = entered

    def _stop(self, name: str, t: int, by: str) -> None:
        c = self.running(name)
        if c is not None:
            c.stop, c.ended_by = t, by

    # -- what the KPI rules read

    @property
    def open(self) -> bool:
        """Open while the stage is one of the open stages."""
        return self.stage in OPEN_STAGES

    def kpi_clocks(self) -> list[Clock]:
        """Every dispatch and handle clock, and the one verify clock (last handled to
        last verified) while the stage is handled, verified, closed or evaluated."""
        out = [c for c in self.clocks if c.name != "verify"]
        if self.stage in ("handled", "verified", "closed", "evaluated"):
            out.append([c for c in self.clocks if c.name == "verify"][-1])
        return out


def replay(case_id: str, events: list[CaseEvent]) -> Case:
    """Judge a case's unique events in the contract's order, each against the valid
    events before it."""
    case = Case(case_id)
    for ev in sorted(events, key=lambda e: (e.ts, TYPE_ORDER.index(e.type), e.id)):
        why = case.refusal(ev)
        if why is None:
            case.apply(ev)
        else:
            case.refused.append((ev, why))
    return case


# ------------------------------------------------------------------------- the views


@dataclass
class ContractViews:
    """What the contract says the workers hold after the log: the `gp:case:<p>:kpi`
    counters summed over partitions, the case alerts, and how each case ended."""

    counters: Counter
    alerts: dict[str, Alert]
    watermarks: dict[int, int]
    cases: dict[str, Case]
    partition_of: dict[str, int]
    dead: list[tuple[CaseEvent, str]]  # dead letters: unknown grid, or refused past the lateness


def partition_of(key: str, partitions: int) -> int:
    """The contract's partitioning: aiokafka's DefaultPartitioner (murmur2 of the key)."""
    parts = list(range(partitions))
    return DefaultPartitioner()(key.encode(), parts, parts)


def contract_views(city, events: list[CaseEvent], partitions: int = 4,
                   lateness_ms: int = 60_000, policy: Policy | None = None) -> ContractViews:
    """Every `gp:case:<p>:kpi` counter (summed over partitions) and every case alert
    (by id) that docs/contract.md gives for a `case-events` log.

    `events` are in log order (arrival order within each partition); each goes to the
    partition of its case id. Every case is judged at its partition's watermark.
    """
    policy = policy or Policy.load()
    tz = policy.calendar.tz
    logs: dict[int, list[CaseEvent]] = {}
    for ev in events:
        logs.setdefault(partition_of(ev.case, partitions), []).append(ev)

    cases: dict[str, Case] = {}
    part: dict[str, int] = {}
    wm: dict[int, int] = {}
    dead: list[tuple[CaseEvent, str]] = []
    for p, log in logs.items():
        kept, now, gone = read_partition(city, log, lateness_ms)
        dead += gone
        for cid, evs in kept.items():
            cases[cid], part[cid] = replay(cid, evs), p
        if now is not None:
            wm[p] = now

    per_part: dict[int, Counter] = {p: Counter() for p in wm}
    for cid, case in cases.items():
        if case.report is not None:
            per_part[part[cid]].update(case_counters(city, case, wm[part[cid]], policy, tz))

    alerts: dict[str, Alert] = {}
    for cid, case in cases.items():
        if case.report is not None:
            p = part[cid]
            alerts.update(case_alerts(city, case, wm[p], lateness_ms, policy, per_part[p], tz))

    total: Counter = Counter()
    for c in per_part.values():
        total.update(c)
    return ContractViews(counters=+total, alerts=alerts, watermarks=wm, cases=cases,
                         partition_of=part, dead=dead)


def read_partition(city, log: list[CaseEvent], lateness_ms: int):
    """A partition's log read in order, as "Now" and the dead-letter rules say.

    Returns the events each case keeps, the watermark (None if nothing was applied)
    and the dead letters. The watermark is the newest `ts` of an event its case's
    rules accepted, when it arrived or later (so an event accepted on arrival and
    refused after a late predecessor still moved it). A refused event is dead once the
    watermark is the allowed lateness past it, and no later arrival brings it back.
    """
    kept: dict[str, list[CaseEvent]] = {}
    seen: dict[str, set[str]] = {}
    dead: list[tuple[CaseEvent, str]] = []
    now: int | None = None
    waiting: list[tuple[CaseEvent, str]] = []  # refused, within the lateness
    for ev in log:
        try:
            city.grid(ev.grid)
        except KeyError:
            dead.append((ev, f"unknown grid '{ev.grid}'"))
            continue
        ids = seen.setdefault(ev.case, set())
        if ev.id in ids:  # a duplicate: the first to arrive is the one the case has
            continue
        ids.add(ev.id)
        kept.setdefault(ev.case, []).append(ev)
        case = replay(ev.case, kept[ev.case])
        for e in case.applied:
            now = e.ts if now is None else max(now, e.ts)
        waiting = [(e, w) for e, w in waiting if e.case != ev.case] + case.refused
        if now is None:
            continue
        for e, why in [(e, w) for e, w in waiting if e.ts + lateness_ms <= now]:
            kept[e.case].remove(e)
            dead.append((e, why))
        waiting = [(e, w) for e, w in waiting if e.ts + lateness_ms > now]
    return kept, now, dead


def deadline(policy: Policy, case: Case, clock: Clock, f: Fraction = Fraction(1)) -> int:
    """The instant f x the clock's allotted time has passed (f = 1: its deadline)."""
    rep = case.report
    allotted = policy.allotted(clock.name, rep.category, rep.severity)
    return policy.at(clock.start, allotted * f, rep.severity)


def case_counters(city, case: Case, now: int, policy: Policy, tz: str) -> Counter:
    """What one case adds to the KPI counters at its partition's now."""
    out: Counter = Counter()
    rep = case.report
    g = city.grid(rep.grid)
    areas = (rep.grid, g.community, g.town, g.district, city.code)
    tops = (g.district, city.code)
    cat = rep.category
    worker = rep.actor

    def day(t: int) -> int:
        return local_day(t, tz)

    clocks = case.kpi_clocks()
    late_now = any(c.stop is None and deadline(policy, case, c) <= now for c in clocks)
    on_time = all(c.stop is not None and c.stop < deadline(policy, case, c) for c in clocks)

    if case.open:
        dept = case.dept or "-"
        for a in areas:
            out[f"open|{a}"] += 1
            if late_now:
                out[f"overdue|{a}"] += 1
        for a in tops:
            out[f"open|{a}|c:{cat}"] += 1
            out[f"open|{a}|d:{dept}"] += 1
            out[f"stage|{a}|{case.stage}"] += 1
            if late_now:
                out[f"overdue|{a}|c:{cat}"] += 1
                out[f"overdue|{a}|d:{dept}"] += 1

    t = rep.ts
    for a in areas:
        out[f"new|{a}|{day(t)}"] += 1
        out[f"newmin|{a}|{t // MINUTE}"] += 1
    for a in tops:
        out[f"new|{a}|c:{cat}|{day(t)}"] += 1
    if worker:
        out[f"w:new|{worker}|{day(t)}"] += 1

    handles = [c for c in case.clocks if c.name == "handle"]
    if case.stage in ("closed", "evaluated"):
        last_dept = handles[-1].dept
        d = day(case.first_entered["closed"])
        kinds = ["closed"] + (["ontime"] if on_time else [])
        for k in kinds:
            for a in areas:
                out[f"{k}|{a}|{d}"] += 1
            for a in tops:
                out[f"{k}|{a}|d:{last_dept}|{d}"] += 1
            if worker:
                out[f"w:{k}|{worker}|{d}"] += 1
        if case.stage == "evaluated" and case.satisfaction is not None:
            d = day(case.last_evaluated)
            kinds = ["eval"] + (["sat"] if case.satisfaction >= 4 else [])
            for k in kinds:
                for a in areas:
                    out[f"{k}|{a}|{d}"] += 1
                for a in tops:
                    out[f"{k}|{a}|d:{last_dept}|{d}"] += 1
                if worker:
                    out[f"w:{k}|{worker}|{d}"] += 1

    for name, (first, second) in DUR_PAIRS.items():
        if first in case.first_entered and second in case.first_entered:
            t1, t2 = case.first_entered[first], case.first_entered[second]
            for a in tops:
                out[f"dur|{a}|{name}|{day(t2)}|{bucket(t2 - t1)}"] += 1

    disp: set[tuple[str, int]] = set()
    ret: set[tuple[str, int]] = set()
    for c in handles:
        disp.add((c.dept, day(c.start)))
        if c.ended_by == "returned":
            ret.add((c.dept, day(c.stop)))
        if c.ended_by == "handled":
            b, d = bucket(c.stop - c.start), day(c.stop)
            for a in tops:
                out[f"dur|{a}|handle|{d}|{b}"] += 1
                out[f"dur|{a}|d:{c.dept}|handle|{d}|{b}"] += 1
            out[f"h|{c.dept}|{cat}|{d}|{b}"] += 1
    for dept, d in disp:
        for a in tops:
            out[f"disp|{a}|d:{dept}|{d}"] += 1
    for dept, d in ret:
        for a in tops:
            out[f"ret|{a}|d:{dept}|{d}"] += 1
    return out


def typical_handling_ms(part_counters: Counter, dept: str, cat: str, start_day: int) -> int | None:
    """The p75 of the partition's `h|<dept>|<cat>|...` counts over the 28 days before
    `start_day`, or None with fewer than 5 handlings."""
    counts: dict[int, int] = {}
    for d in range(start_day - 28, start_day):
        for b in range(len(DURATION_EDGES_MIN) + 1):
            n = part_counters.get(f"h|{dept}|{cat}|{d}|{b}", 0)
            if n:
                counts[b] = counts.get(b, 0) + n
    if sum(counts.values()) < 5:
        return None
    return quantile_ms(counts, Fraction(3, 4))


def case_alerts(city, case: Case, now: int, lateness_ms: int, policy: Policy,
                part_counters: Counter, tz: str) -> dict[str, Alert]:
    """The SLA alerts of one case written by its partition's now: one per threshold a
    clock crossed while running (or at the moment it stopped), once now is the allowed
    lateness past it."""
    out: dict[str, Alert] = {}
    rep = case.report
    g = city.grid(rep.grid)
    stage_of = {"dispatch": "registered", "handle": "dispatched", "verify": "handled"}

    def crossed(c: Clock, moment: int) -> bool:
        running_then = c.stop is None or moment <= c.stop
        return running_then and moment + lateness_ms <= now

    def alert(c: Clock, suffix: str, kind: str, moment: int, due: int, **extra) -> None:
        aid = f"{case.id}:{c.name}:{c.start}:{suffix}"
        out[aid] = Alert(id=aid, kind=kind, ts=moment, case=case.id, stage=stage_of[c.name],
                         deadline=due, grid=rep.grid, community=g.community, town=g.town,
                         district=g.district, city=city.code, dept=c.dept,
                         severity=rep.severity, category=rep.category, **extra)

    for c in case.clocks:
        due = deadline(policy, case, c)
        for kind, moment in (("warning", deadline(policy, case, c, policy.warn_fraction)),
                             ("overdue", due)):
            if crossed(c, moment):
                alert(c, kind, kind, moment, due)
        for level, m in enumerate(policy.multiples, start=1):
            moment = deadline(policy, case, c, m)
            if crossed(c, moment):
                alert(c, f"escalation:{level}", "escalation", moment, due,
                      message=f"督办 level {level}")
        if c.stop is not None and due <= c.stop and c.stop + lateness_ms <= now:
            alert(c, "resolved", "resolved", c.stop, due)
        if c.name == "handle":
            typical = typical_handling_ms(part_counters, c.dept, rep.category,
                                          local_day(c.start, tz))
            if typical is not None:
                moment = max(c.start, due - typical)  # remaining time down to typical
                if crossed(c, moment):
                    alert(c, "likely_breach", "likely_breach", moment, due)
    return out
