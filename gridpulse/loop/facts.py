"""What one case contributes to the KPIs and alerts at a given ``now``: pure functions.

Every KPI is a sum over cases of :func:`contribution` (counter keys, +1 per occurrence),
and the alerts are the union over cases of :func:`alerts`. The stream worker keeps each
case's last contribution and applies only the difference when the case or the clock
moves; the batch oracle just sums. Both therefore agree exactly, whatever the order or
the partitioning: exactness comes from event ids and idempotent writes, not from delivery.

Counter keys (``|``-separated; ``area`` is a grid, community, town, district or city code):

- ``open|area``, ``overdue|area``: open cases, and those past their running clock's
  deadline; ``open|area|c:<category>``, ``open|area|d:<dept>``, ``overdue|...`` likewise
  for districts and the city; ``stage|area|<stage>`` open cases per stage (districts, city).
- ``new|area|<day>``: cases reported that local day; ``new|area|c:<cat>|<day>`` (districts,
  city); ``newmin|area|<minute>`` (every level: the last hour and the per-minute series).
- ``closed|area|<day>`` / ``ontime|area|<day>``: cases closed that day, and of those the
  ones that met every deadline; ``|d:<dept>`` variants for districts and the city.
- ``eval|area|<day>`` / ``sat|area|<day>``: evaluations that day, and satisfied ones.
- ``dur|area|<stage>|<day>|<bucket>``: how long a stage took (districts, city), by the day it
  ended: once per case, from the first time it entered the one stage to the first time
  it entered the other, except ``handle``, which is per handling (below).
- ``dur|area|handle|<day>|<bucket>`` and ``dur|area|d:<dept>|handle|<day>|<bucket>``: one
  count per department clock that ended in ``handled``, from the dispatch (or
  reassignment) that gave that department the case to its handling, by the day of the
  handling. Area and department histograms count the same handlings, so an area's is the
  sum of its departments'; a case handled twice (reopened) counts twice.
- ``disp|area|d:<dept>|<day>`` / ``ret|area|d:<dept>|<day>``: cases dispatched to a
  department, and returned by it ("not ours"), by day (districts, city); a case counts
  once per department and day however often it went back and forth.
- ``h|<dept>|<category>|<day>|<bucket>``: the same handlings per department and category,
  the partition's memory for "likely to breach" (its typical, p75, handling time).
- ``w:new|<worker>|<day>``, ``w:closed|...``, ``w:ontime|...``, ``w:eval|...``, ``w:sat|...``:
  the same figures per grid worker who reported the case (by the days above).
"""

from __future__ import annotations

import sys
from bisect import bisect_left
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

from gridpulse.clock import local_day, minute
from gridpulse.schemas import Alert

from .lifecycle import SATISFIED, CaseView

#: Upper edges (minutes) of the stage-duration histogram; quantiles report an edge.
DURATION_EDGES_MIN = (1, 2, 3, 5, 7, 10, 15, 20, 30, 45, 60, 90, 120, 180, 240, 360, 480,
                      720, 960, 1440, 2160, 2880, 4320, 7200, 10080, 20160, 43200)
#: Stage durations measured: name -> (from stage, to stage). All but ``handle`` are taken
#: once per case, first entry to first entry; ``handle`` is per department clock (see
#: :func:`_durations`).
DURATIONS = {"register": ("reported", "registered"), "dispatch": ("registered", "dispatched"),
             "accept": ("dispatched", "accepted"), "handle": ("dispatched", "handled"),
             "verify": ("handled", "verified"), "close": ("verified", "closed"),
             "evaluate": ("closed", "evaluated")}

_intern = sys.intern


def bucket(ms: int) -> int:
    """Histogram bucket index of a duration (the last bucket is open-ended)."""
    return bisect_left(DURATION_EDGES_MIN, ms / 60_000)


@dataclass(frozen=True)
class CaseInfo:
    """The fixed facts of a case: where and what (from its report)."""

    case: str
    lineage: tuple[str, ...]  # grid, community, town, district, city
    category: str
    severity: int
    reported: int  # report time, 0 if the report was not seen
    reporter: str = ""  # the grid worker who reported it


class Rules:
    """The SLA policy and working calendar the facts are computed with."""

    #: Clocks remembered for callers that keep none of their own (the case page, the
    #: oracle, a reopened case's earlier rounds). The stream worker keeps each held
    #: case's clocks with the case instead (``memo`` below), so what it remembers is
    #: bounded by the cases it holds, not by how many it has seen.
    SHARED_CLOCKS = 4096

    def __init__(self, policy, calendar, tz: str) -> None:
        self.policy, self.calendar, self.tz = policy, calendar, tz
        # A case is refreshed many times with the same clocks; working-calendar
        # arithmetic is the costly part, so clocks are remembered.
        self._clock = lru_cache(maxsize=self.SHARED_CLOCKS)(self._make_clock)

    @classmethod
    def load(cls, sla_file: str, holidays_file: str, tz: str) -> "Rules":
        """Rules from the policy and calendar files (empty path: the bundled defaults).

        Logs a warning if the calendar lacks this year or the next (calendar_years.py).
        """
        from .calendar import load_calendar
        from .calendar_years import warn_year_gap
        from .sla import load_policy
        calendar = load_calendar(holidays_file or None)
        warn_year_gap(calendar, tz)
        return cls(load_policy(sla_file or None), calendar, tz)

    def _make_clock(self, name: str, category: str, severity: int, start: int):
        return self.policy.clock(name, category, severity, start, self.calendar)

    def clock(self, name: str, info: CaseInfo, start: int, memo: dict | None = None):
        """An SLA clock of ``info``'s case started at ``start``.

        ``memo``: the case's own clock memory (a dict the caller keeps with the case and
        drops with it); without one, a small shared cache is used.
        """
        if memo is None:
            return self._clock(name, info.category, info.severity, start)
        key = (name, info.category, info.severity, start)
        c = memo.get(key)
        if c is None:
            c = memo[key] = self._make_clock(*key)
        return c

    def clocks(self, view: CaseView, info: CaseInfo,
               memo: dict | None = None) -> list[tuple[object, int | None]]:
        """Every clock the case ran, with its stop time (None while running).

        A dispatch clock for each wait for dispatch (after registration, a return or a
        reopening), a handle clock for each department span, a verify clock from the
        last handling. ``memo``: see :meth:`clock`.
        """
        clock = self.clock
        out = [(clock("dispatch", info, w.start, memo), w.end) for w in view.waits]
        for span in view.spans:
            out.append((clock("handle", info, span.start, memo), span.end))
        handled = view.entered.get("handled")
        if handled is not None and view.stage in ("handled", "verified", "closed", "evaluated"):
            verified = view.entered.get("verified") if view.stage != "handled" else None
            out.append((clock("verify", info, handled, memo), verified))
        return out

    def earlier_checks(self, view: CaseView, info: CaseInfo,
                       memo: dict | None = None) -> list[tuple[object, int | None]]:
        """The verify clocks of a reopened case's earlier rounds (each handling to its
        verification, before the last handling). They count in no KPI, but what they
        crossed happened: their alerts are as final as any other clock's."""
        return [(self.clock("verify", info, w.start, memo), w.end) for w in view.checks[:-1]]


# Key builders, cached: a case is recomputed at every step of its loop and its keys
# repeat (same areas, same days), so formatting and interning them once pays off. Most
# entries name a day or a minute, so a cache fills up with the days and then stays at its
# bound: 16,384 entries (~6 MB) a family is about a day of Ningbo's cases, enough for the
# repeats, which come from a case's steps within hours of each other.
_cache = lru_cache(maxsize=16_384)


@_cache
def _open_keys(lin: tuple[str, ...], cat: str, dept: str, stage: str, late: bool) -> tuple[str, ...]:
    keys = [f"open|{a}" for a in lin]
    for a in lin[3:]:
        keys += [f"open|{a}|c:{cat}", f"open|{a}|d:{dept}", f"stage|{a}|{stage}"]
    if late:
        keys += [f"overdue|{a}" for a in lin]
        for a in lin[3:]:
            keys += [f"overdue|{a}|c:{cat}", f"overdue|{a}|d:{dept}"]
    return tuple(map(_intern, keys))


@_cache
def _new_keys(lin: tuple[str, ...], cat: str, day: int, m: int) -> tuple[str, ...]:
    keys = [f"new|{a}|{day}" for a in lin] + [f"newmin|{a}|{m}" for a in lin]
    for a in lin[3:]:
        keys.append(f"new|{a}|c:{cat}|{day}")
    return tuple(map(_intern, keys))


@_cache
def _outcome_keys(what: str, good: str, lin: tuple[str, ...], dept: str, day: int,
                  ok: bool) -> tuple[str, ...]:
    """``closed``/``ontime`` or ``eval``/``sat`` keys of one case."""
    keys = [f"{what}|{a}|{day}" for a in lin] + [f"{what}|{a}|d:{dept}|{day}" for a in lin[3:]]
    if ok:
        keys += [f"{good}|{a}|{day}" for a in lin] + [f"{good}|{a}|d:{dept}|{day}" for a in lin[3:]]
    return tuple(map(_intern, keys))


@_cache
def _top_keys(fmt: str, top: tuple[str, ...], *args) -> tuple[str, ...]:
    return tuple(_intern(fmt.format(a, *args)) for a in top)


@_cache
def _worker_keys(who: str, what: str, good: str, day: int, ok: bool) -> tuple[str, ...]:
    keys = (f"w:{what}|{who}|{day}",) + ((f"w:{good}|{who}|{day}",) if ok else ())
    return tuple(map(_intern, keys))


def contribution(view: CaseView, info: CaseInfo, now: int, rules: Rules,
                 clocks: list | None = None) -> tuple[str, ...]:
    """The counter keys this case adds 1 to at ``now``, once per occurrence.

    Only the handling-time keys can occur more than once (a case handled twice, after a
    reopening, in the same bucket of the same day). ``clocks``: ``rules.clocks(view,
    info)`` if the caller already has them.
    """
    keys: tuple[str, ...] = ()
    lin, tz, who = info.lineage, rules.tz, info.reporter
    if clocks is None:
        clocks = rules.clocks(view, info) if view.stage is not None else []
    if view.is_open:
        late = any(stop is None and c.deadline <= now for c, stop in clocks)
        keys += _open_keys(lin, info.category, view.dept or "-", view.stage, late)
    if info.reported:
        day = local_day(info.reported, tz)
        keys += _new_keys(lin, info.category, day, minute(info.reported))
        if who:
            keys += _worker_keys(who, "new", "", day, False)
    last_dept = view.spans[-1].dept if view.spans else "-"
    closed = view.first.get("closed")
    if closed is not None and view.stage in ("closed", "evaluated"):
        day = local_day(closed, tz)
        # The deadline instant itself is late (SlaPolicy.status): on time means before it.
        on_time = all(stop is not None and stop < c.deadline for c, stop in clocks)
        keys += _outcome_keys("closed", "ontime", lin, last_dept, day, on_time)
        if who:
            keys += _worker_keys(who, "closed", "ontime", day, on_time)
    if view.satisfaction is not None and view.stage == "evaluated":
        day = local_day(view.entered["evaluated"], tz)
        sat = view.satisfaction >= SATISFIED
        keys += _outcome_keys("eval", "sat", lin, last_dept, day, sat)
        if who:
            keys += _worker_keys(who, "eval", "sat", day, sat)
    return keys + _durations(view, info, tz)


def _durations(view: CaseView, info: CaseInfo, tz: str) -> tuple[str, ...]:
    keys: tuple[str, ...] = ()
    top = info.lineage[3:]
    first = view.first
    for name, (a, b) in DURATIONS.items():
        if name == "handle":
            continue  # per department clock, below
        ta = info.reported if a == "reported" and info.reported else first.get(a)
        tb = first.get(b)
        if ta is not None and tb is not None and tb >= ta:
            keys += _top_keys("dur|{}|{}|{}|{}", top, name, local_day(tb, tz), bucket(tb - ta))
    once: tuple[str, ...] = ()
    for span in view.spans:
        once += _top_keys("disp|{}|d:{}|{}", top, span.dept, local_day(span.start, tz))
        if span.end is not None:
            if span.outcome == "returned":
                once += _top_keys("ret|{}|d:{}|{}", top, span.dept, local_day(span.end, tz))
            elif span.outcome == "handled":
                # Measured from the dispatch that gave this department the case, for the
                # area as for the department, so an area's histogram is the sum of its
                # departments' (time spent with a department that returned the case is
                # that department's, not the handler's).
                keys += _handle_keys(top, span.dept, info.category, local_day(span.end, tz),
                                     bucket(span.end - span.start))
    # A case returned and re-dispatched to the same department the same day is one case
    # dispatched to it that day, not two.
    return keys + (tuple(dict.fromkeys(once)) if len(view.spans) > 1 else once)


@_cache
def _handle_keys(top: tuple[str, ...], dept: str, cat: str, day: int, bk: int) -> tuple[str, ...]:
    keys = [f"dur|{a}|handle|{day}|{bk}" for a in top]
    keys += [f"dur|{a}|d:{dept}|handle|{day}|{bk}" for a in top]
    keys.append(f"h|{dept}|{cat}|{day}|{bk}")
    return tuple(map(_intern, keys))


#: (department, category, local day) -> typical (p75) handling time in ms, or None.
Typical = Callable[[str, str, int], "int | None"]


TYPICAL_DAYS = 28  # how far back the typical handling time looks
TYPICAL_MIN_CASES = 5  # fewer handled cases than this: nothing learned yet
TYPICAL_Q = 0.75


def typical_from(get: Callable[[str], int], dept: str, category: str, day: int) -> int | None:
    """p75 handling time (ms, a histogram edge) of ``dept`` for ``category`` over the
    ``TYPICAL_DAYS`` days before ``day``, from ``h|`` counters read with ``get``."""
    hist = [0] * (len(DURATION_EDGES_MIN) + 1)
    for d in range(day - TYPICAL_DAYS, day):
        for b in range(len(hist)):
            v = get(f"h|{dept}|{category}|{d}|{b}")
            if v:
                hist[b] += v
    total = sum(hist)
    if total < TYPICAL_MIN_CASES:
        return None
    seen = 0
    for b, n in enumerate(hist):
        seen += n
        if seen >= TYPICAL_Q * total:
            return DURATION_EDGES_MIN[b] * 60_000 if b < len(DURATION_EDGES_MIN) else None
    return None


def likely_moment(c, dept: str | None, info: CaseInfo, typical: Typical | None, tz: str) -> int | None:
    """When a handle clock becomes "likely to breach": the remaining time (wall clock) is
    shorter than the department's typical (p75) handling time for the category, as
    learned up to the day before the clock started. None if not learned or too late."""
    if c.name != "handle" or typical is None or not dept:
        return None
    p75 = typical(dept, info.category, local_day(c.start, tz))
    if p75 is None:
        return None
    at = max(c.start, c.deadline - p75)
    return at if at < c.deadline else None


def alerts(view: CaseView, info: CaseInfo, final: int, rules: Rules,
           clocks: list | None = None, typical: Typical | None = None) -> list[Alert]:
    """Alerts whose moment has passed by ``final`` (now minus the allowed lateness).

    Each has a stable id ``<case>:<clock>:<start>:<kind>[:<level>]``: receivers dedupe on it.
    """
    out = []
    lin = info.lineage
    where = dict(grid=lin[0], community=lin[1], town=lin[2], district=lin[3], city=lin[4])
    if clocks is None:
        clocks = rules.clocks(view, info) if view.stage is not None else []
    if len(view.checks) > 1:
        clocks = clocks + rules.earlier_checks(view, info)
    for c, stop in clocks:
        dept = _dept_at(view, c.start) if c.name == "handle" else None
        likely = likely_moment(c, dept, info, typical, rules.tz)
        if c.warn_at > final and (likely is None or likely > final):
            continue  # nothing of this clock has happened yet (the common case)
        base = f"{info.case}:{c.name}:{c.start}"
        stage = {"dispatch": "registered", "handle": "dispatched", "verify": "handled"}[c.name]

        def emit(kind: str, at: int, suffix: str = "", **extra) -> None:
            out.append(Alert(id=f"{base}:{kind}{suffix}", kind=kind, ts=at, case=info.case,
                             stage=stage, deadline=c.deadline, dept=dept, severity=info.severity,
                             category=info.category, **where, **extra))

        moments = [("warning", c.warn_at), ("overdue", c.deadline)]
        if likely is not None:
            moments.append(("likely_breach", likely))
        for kind, at in moments:
            if at <= final and (stop is None or stop >= at):
                emit(kind, at)
        for level, at in enumerate(c.escalations, start=1):
            if at <= final and (stop is None or stop >= at):
                emit("escalation", at, f":{level}", message=f"督办 level {level}")
        if stop is not None and stop >= c.deadline and stop <= final:
            emit("resolved", stop)
    return out


def _dept_at(view: CaseView, start: int) -> str | None:
    # The last turn that started then: an earlier one with the same start (dispatched,
    # then reassigned in the same millisecond) lasted no time and raises no alert.
    for span in reversed(view.spans):
        if span.start == start:
            return span.dept
    return view.dept


def next_change(view: CaseView, info: CaseInfo, now: int, lateness: int, rules: Rules,
                clocks: list | None = None, typical: Typical | None = None) -> int | None:
    """The next instant after ``now`` at which time alone changes this case's facts."""
    if view.stage is None:
        return None
    times = []
    if clocks is None:
        clocks = rules.clocks(view, info)
    if len(view.checks) > 1:
        clocks = clocks + rules.earlier_checks(view, info)
    for c, stop in clocks:
        likely = likely_moment(c, _dept_at(view, c.start) if c.name == "handle" else None,
                               info, typical, rules.tz)
        for at in (c.warn_at, c.deadline, *c.escalations, *((likely,) if likely else ())):
            times += [at, at + lateness]
        if stop is not None:
            times.append(stop + lateness)
    future = [t for t in times if t > now]
    return min(future) if future else None
