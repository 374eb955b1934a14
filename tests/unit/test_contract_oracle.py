"""The code against the contract's own oracle: every KPI counter and every case alert.

``tests/oracle.py`` folds cases with the project's own rules (gridpulse/loop), so the
integration tests comparing it with the live pipeline prove streaming == batch.
``tests/contract_oracle.py`` was written from docs/contract.md alone; where the two agree
key by key, the code does what the contract says. The worker's in-memory projection
(streams/case_state.py) is held to the contract's oracle the same way, which tells a
fault of the batch oracle from one of the worker. Logs come from the simulator (days, a
weekend, duplicates, disorder within the allowed lateness) and from hand-made cases for
what the simulator never does.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter

import pytest

from gridpulse.city import load_city
from gridpulse.clock import parse_local
from gridpulse.loop.facts import Rules
from gridpulse.schemas import CaseEvent
from producers.simulator import Simulator
from streams.case_state import CasePartition
from tests.contract_oracle import contract_views, partition_of
from tests.oracle import case_views

TZ = "Asia/Shanghai"
LATENESS_MS = 60_000


@pytest.fixture(scope="module")
def city():
    """The bundled Ningbo model."""
    return load_city("ningbo")


@pytest.fixture(scope="module")
def rules():
    """The project's rules with the bundled policy and calendar."""
    return Rules.load("", "", TZ)


def L(text: str) -> int:
    """Epoch ms of a local time in the city's zone."""
    return parse_local(text, TZ)


def lineage_of(city):
    """Grid -> (grid, community, town, district, city) codes."""
    def lineage(grid):
        g = city.grid(grid)
        return (grid, g.community, g.town, g.district, city.code)
    return lineage


def live_views(city, rules, events, partitions, batch: int = 1):
    """The worker's own projection (streams/case_state.py, no Kafka, no Redis) fed the
    log as the worker applies it, `batch` records then the clocks' wake-ups: counters
    summed over partitions and every alert it wrote."""
    states: dict[int, CasePartition] = {}
    alerts = {}
    lineage = lineage_of(city)

    def after_batch():
        for st in states.values():
            st.advance()
            alerts.update((a.id, a) for a in st.alerts_out)
            st.clear_dirty()

    for offset, ev in enumerate(events):
        try:
            city.grid(ev.grid)
        except KeyError:
            continue  # the processor dead-letters it before the projection sees it
        p = partition_of(ev.case, partitions)
        st = states.setdefault(p, CasePartition(p, lineage, rules, LATENESS_MS))
        st.apply(ev, offset)
        if offset % batch == batch - 1:
            after_batch()
    after_batch()
    counters = Counter()
    for st in states.values():
        counters.update(st.counters)
    return +counters, alerts


def disagreements(counters, alerts, mine) -> list[str]:
    """Counters and alerts on which an oracle and the contract's disagree, readable."""
    rows = [f"counter {k}: code {counters.get(k, 0)}, contract {mine.counters.get(k, 0)}"
            for k in sorted(set(counters) | set(mine.counters))
            if counters.get(k, 0) != mine.counters.get(k, 0)]
    for i in sorted(set(alerts) | set(mine.alerts)):
        theirs, ours = alerts.get(i), mine.alerts.get(i)
        if theirs is None or ours is None:
            rows.append(f"alert {i}: code {theirs and (theirs.kind, theirs.ts)}, "
                        f"contract {ours and (ours.kind, ours.ts)}")
        elif theirs != ours:
            rows.append(f"alert {i}: code {theirs}, contract {ours}")
    return rows




# ----------------------------------------------------------------- simulated days


def with_duplicates_and_disorder(msgs, seed: int, max_late_ms: int = 30_000):
    """Re-send 10% of the messages and deliver 5% late, each by at most ``max_late_ms``
    of event time: within the allowed lateness, so as if in order (the idea of
    tests/integration/pipeline.py, without its Kafka and Redis imports)."""
    rng = random.Random(seed)
    out = list(msgs) + [m for m in msgs if rng.random() < 0.1]
    out.sort(key=lambda m: m.ts)
    for i in range(len(out) - 1, -1, -1):
        if rng.random() >= 0.05:
            continue
        j = i
        while j + 1 < len(out) and out[j + 1].ts - out[i].ts <= max_late_ms and j - i < 200:
            j += 1
        out.insert(j, out.pop(i))
    return out


@pytest.fixture(scope="module")
def simulated(city):
    """Thursday 08:00 to Monday noon: two working days, a weekend, a working morning."""
    sim = Simulator(city, seed=3, start_ms=L("2026-11-26T08:00:00"), tz=TZ, terminals=30,
                    cases_per_day=1500)
    msgs = [m for m in sim.advance(L("2026-11-30T12:00:00")) if m.topic == "case-events"]
    return [m.value for m in with_duplicates_and_disorder(msgs, seed=5)]


@pytest.fixture(scope="module")
def contract_of_simulated(city, simulated):
    """The contract's figures for the simulated days."""
    return contract_views(city, simulated, 4, LATENESS_MS)


def test_simulated_days_project_oracle_agrees(city, rules, simulated, contract_of_simulated):
    counters, alerts = case_views(city, simulated, rules, 4, LATENESS_MS)
    assert disagreements(counters, alerts, contract_of_simulated) == []
    # what the comparison covered, so a simulator change cannot empty it unnoticed
    families = {k.split("|")[0] for k in counters}
    assert families >= {"open", "overdue", "stage", "new", "newmin", "closed", "ontime",
                        "eval", "sat", "dur", "disp", "ret", "h", "w:new", "w:closed",
                        "w:ontime", "w:eval", "w:sat"}
    kinds = {a.kind for a in alerts.values()}
    assert kinds == {"warning", "overdue", "escalation", "likely_breach", "resolved"}
    assert len(simulated) > len({e.id for e in simulated})  # duplicates were sent


def test_simulated_days_live_projection_agrees(city, rules, simulated, contract_of_simulated):
    counters, alerts = live_views(city, rules, simulated, 4, batch=500)
    assert disagreements(counters, alerts, contract_of_simulated) == []


# ---------------------------------------------------------------- hand-made cases


def grids(city):
    """Two grids of different districts."""
    first = city.grids_of(city.code)[0]
    other = next(g for g in city.grids_of(city.code) if city.grid(g).district != city.grid(first).district)
    return first, other


def story(case: str, grid: str, category: str, severity: int):
    """A builder of one case's events: ``ev(local time, type, **fields)``, ids in order."""
    n = itertools.count()

    def ev(when: str, typ: str, **kw) -> CaseEvent:
        return CaseEvent(id=kw.pop("id", f"{case}.{next(n)}"), case=kw.pop("case", case),
                         type=typ, ts=L(when), grid=kw.pop("grid", grid),
                         category=kw.pop("category", category),
                         severity=kw.pop("severity", severity), **kw)
    return ev


def pace(grid: str, when: str) -> list[CaseEvent]:
    """A case reported at ``when``: sets its partition's now."""
    return [story("PACE", grid, "dispute", 4)(when, "reported", actor="W90000")]


def in_time_order(events: list[CaseEvent]) -> list[CaseEvent]:
    """Events sent as they happen, several cases interleaved (a stable sort by time)."""
    return sorted(events, key=lambda e: e.ts)


def reassigned(g, h):
    """Reassigned to another department, then to the same one (its clock restarts)."""
    ev = story("REASSIGN", g, "street_order", 3)
    return [
        ev("2026-11-27T09:00", "reported", actor="W90001"),
        ev("2026-11-27T09:05", "registered"),
        ev("2026-11-27T09:30", "dispatched", dept="urban"),
        ev("2026-11-27T09:40", "accepted", dept="urban"),
        ev("2026-11-27T10:00", "reassigned", dept="sanitation"),
        ev("2026-11-27T10:10", "accepted", dept="urban"),  # no longer urban's: refused
        ev("2026-11-27T10:30", "accepted", dept="sanitation"),
        ev("2026-11-27T11:00", "reassigned", dept="sanitation"),  # the same: its clock restarts
        ev("2026-11-27T13:00", "handled", dept="sanitation"),
        ev("2026-11-27T14:00", "verified"),
        ev("2026-11-27T14:10", "closed"),
        ev("2026-11-27T15:00", "evaluated", satisfaction=3),
    ] + pace(h, "2026-11-27T16:00")


def reopened_closed_twice(g, h):
    """Closed, evaluated, reopened, closed and evaluated again: counted once."""
    ev = story("REOPEN", g, "street_order", 3)
    return [
        ev("2026-11-26T10:00", "reported", actor="W90002"),
        ev("2026-11-26T10:05", "registered"),
        ev("2026-11-26T10:30", "dispatched", dept="urban"),
        ev("2026-11-26T16:00", "handled", dept="urban"),
        ev("2026-11-27T09:00", "verified"),
        ev("2026-11-27T09:10", "closed"),
        ev("2026-11-27T10:00", "evaluated", satisfaction=2),
        ev("2026-11-27T11:00", "reopened"),
        ev("2026-11-27T11:30", "dispatched", dept="urban"),
        ev("2026-11-30T10:00", "handled", dept="urban"),
        ev("2026-11-30T11:00", "verified"),
        ev("2026-11-30T11:05", "closed"),
        ev("2026-11-30T12:00", "evaluated", satisfaction=5),
    ] + pace(h, "2026-11-30T13:00")


def reopened_still_open(g, h):
    """Evaluated, then reopened: it leaves closed, ontime and eval until it closes again."""
    ev = story("REOPEN2", g, "sanitation", 2)
    return [
        ev("2026-11-26T10:00", "reported", actor="W90003"),
        ev("2026-11-26T10:01", "registered"),
        ev("2026-11-26T10:02", "dispatched", dept="sanitation"),
        ev("2026-11-26T11:00", "handled", dept="sanitation"),
        ev("2026-11-26T11:30", "verified"),
        ev("2026-11-26T11:40", "closed"),
        ev("2026-11-26T12:00", "evaluated", satisfaction=5),
        ev("2026-11-26T15:00", "reopened"),
        ev("2026-11-26T15:10", "escalated"),
    ] + pace(h, "2026-11-27T16:00")


def reopened_from_verified_late_verify(g, h):
    """Round one's verify clock ran out; round two's did not."""
    ev = story("REOPEN3", g, "facility", 3)
    return [
        ev("2026-11-26T09:00", "reported", actor="W90004"),
        ev("2026-11-26T09:10", "registered"),
        ev("2026-11-26T09:20", "dispatched", dept="housing"),
        ev("2026-11-26T10:00", "handled", dept="housing"),
        ev("2026-11-27T15:00", "verified"),  # verify: 1 working day, by 11-27 10:00
        ev("2026-11-27T15:10", "reopened"),
        ev("2026-11-27T15:20", "dispatched", dept="transport"),
        ev("2026-11-27T16:00", "handled", dept="transport"),
        ev("2026-11-27T16:30", "verified"),
        ev("2026-11-27T16:40", "closed"),
    ] + pace(h, "2026-11-30T09:00")


def escalated_to_the_city(g, h):
    """Raised to the city, a fourth time and once after closing refused; a dispatch
    clock run past 3x its allotted time."""
    ev = story("ESCALATE", g, "dispute", 3)
    return [
        ev("2026-11-27T08:50", "reported", actor="W90005"),
        ev("2026-11-27T09:00", "registered"),  # dispatch: 2 working hours
        ev("2026-11-27T09:30", "escalated"),
        ev("2026-11-27T10:30", "escalated"),
        ev("2026-11-27T11:30", "escalated"),
        ev("2026-11-27T12:30", "escalated"),  # a fourth: refused
        ev("2026-11-27T16:00", "dispatched", dept="justice"),  # past 3x: every alert, then resolved
        ev("2026-11-27T16:30", "handled", dept="justice"),
        ev("2026-11-27T16:40", "verified"),
        ev("2026-11-27T16:50", "closed"),
        ev("2026-11-27T16:55", "escalated"),  # after closed: refused
    ] + pace(h, "2026-11-27T17:10")


def returned_and_redispatched(g, h):
    """Returned twice by one department on one day, once by another the next day."""
    ev = story("RETURN", g, "facility", 3)
    return [
        ev("2026-11-26T09:00", "reported", actor="W90006"),
        ev("2026-11-26T09:10", "registered"),
        ev("2026-11-26T09:20", "dispatched", dept="housing"),
        ev("2026-11-26T09:50", "returned", dept="housing", reason="not ours"),
        ev("2026-11-26T10:30", "dispatched", dept="housing"),  # same department, same day
        ev("2026-11-26T11:00", "accepted", dept="housing"),
        ev("2026-11-26T11:20", "returned", dept="housing", reason="still not ours"),
        ev("2026-11-26T13:00", "dispatched", dept="transport"),
        ev("2026-11-27T09:00", "returned", dept="transport", reason="not ours either"),
        ev("2026-11-27T09:30", "handled", dept="transport"),  # returned, not dispatched: refused
        ev("2026-11-27T14:00", "dispatched", dept="housing"),
        ev("2026-11-30T09:00", "handled", dept="housing"),
        ev("2026-11-30T10:00", "verified"),
        ev("2026-11-30T10:05", "closed"),
        ev("2026-11-30T11:00", "evaluated", satisfaction=4),
    ] + pace(h, "2026-11-30T12:00")


def returned_still_open(g, h):
    """Returned and waiting: open with no department (`d:-`)."""
    ev = story("RETURN2", g, "environment", 4)
    return [
        ev("2026-11-27T09:00", "reported"),  # no reporter: no w: keys
        ev("2026-11-27T09:10", "registered"),
        ev("2026-11-27T09:20", "dispatched", dept="ecology"),
        ev("2026-11-27T09:50", "returned", dept="ecology", reason="not ours"),
    ] + pace(h, "2026-11-30T12:00")


def rule_breaking(g, h):
    """Events the lifecycle refuses, each changing nothing."""
    ev = story("BREAK", g, "sanitation", 3)
    other = story("NOCASE", g, "sanitation", 3)
    return in_time_order([
        ev("2026-11-27T09:00", "reported", actor="W90007"),
        ev("2026-11-27T09:05", "handled", dept="sanitation"),  # before dispatched
        ev("2026-11-27T09:10", "registered"),
        ev("2026-11-27T09:12", "registered"),  # twice
        ev("2026-11-27T09:15", "dispatched"),  # no department
        ev("2026-11-27T09:20", "dispatched", dept="sanitation"),
        ev("2026-11-27T09:30", "handled", dept="urban"),  # wrong department
        ev("2026-11-27T09:40", "closed"),  # not verified
        ev("2026-11-27T09:50", "evaluated", satisfaction=5),  # not closed
        ev("2026-11-27T10:00", "reopened"),  # not verified
        ev("2026-11-27T10:05", "reassigned"),  # no department
        ev("2026-11-27T10:10", "reported", actor="W90008"),  # a second report
        other("2026-11-27T09:00", "registered"),  # an unknown case
        other("2026-11-27T09:30", "dispatched", dept="urban"),
        # refused with the newest time of the partition: it must not move its now
        ev("2026-11-30T20:00", "verified"),
    ] + pace(h, "2026-11-27T12:00"))


def duplicate_ids(g, h):
    """The same event twice, and ids reused for other content: the first one counts."""
    ev = story("DUP", g, "sanitation", 3)
    events = [
        ev("2026-11-27T09:00", "reported", actor="W90009"),
        ev("2026-11-27T09:05", "registered"),
        ev("2026-11-27T09:30", "dispatched", dept="sanitation"),
        ev("2026-11-27T12:00", "handled", dept="sanitation"),
    ]
    return events + [
        events[2],  # the same event again
        events[3],
        # an id reused for other content: the case already has it
        ev("2026-11-27T17:00", "handled", dept="sanitation", id="DUP.3"),
        ev("2026-11-27T09:40", "dispatched", dept="urban", id="DUP.2"),
    ] + pace(h, "2026-11-27T18:00")


def urgent_over_a_night(g, h):
    """Severity 1 runs 24/7: its clocks run out in the night and on Saturday."""
    fire = story("URGENT", g, "fire", 1)
    san = story("URGENT2", g, "sanitation", 1)
    return in_time_order([
        fire("2026-11-27T22:00", "reported", actor="W90010"),
        fire("2026-11-27T22:05", "registered"),  # 30 min, 24/7
        fire("2026-11-27T23:00", "dispatched", dept="fire"),  # overdue 22:35, resolved 23:00
        fire("2026-11-28T09:00", "handled", dept="fire"),  # 12 h: by 11:00
        fire("2026-11-28T14:00", "verified"),  # 4 h: overdue at 13:00
        fire("2026-11-28T15:00", "closed"),
        san("2026-11-27T23:10", "reported", actor="W90011"),
        san("2026-11-27T23:20", "registered"),
        san("2026-11-27T23:30", "dispatched", dept="sanitation"),  # 4 wall hours
        san("2026-11-28T06:00", "accepted", dept="sanitation"),
    ] + pace(h, "2026-11-28T16:00"))


def across_national_day(g, h):
    """2026-10-01..07 are off, Thursday 10-08 works, Saturday 10-10 is a make-up day."""
    a = story("HOLIDAY", g, "sanitation", 3)
    b = story("HOLIDAY2", g, "street_order", 2)
    return in_time_order([
        a("2026-09-30T16:00", "reported", actor="W90012"),
        a("2026-09-30T16:10", "registered"),  # 2 working hours: by 10-08 09:10
        a("2026-10-08T09:00", "dispatched", dept="sanitation"),  # 4 h: by 10-08 13:00
        a("2026-10-09T10:00", "handled", dept="sanitation"),
        a("2026-10-09T11:00", "verified"),
        a("2026-10-09T11:05", "closed"),
        b("2026-10-09T16:00", "reported", actor="W90013"),
        b("2026-10-09T16:30", "registered"),  # by Saturday 10-10 09:30
        b("2026-10-10T10:00", "dispatched", dept="urban"),
    ] + pace(h, "2026-10-12T08:00"))


def evaluated_without_satisfaction(g, h):
    """A valid evaluation that counts in no evaluation figure."""
    ev = story("NOSAT", g, "livelihood", 3)
    return [
        ev("2026-11-27T09:00", "reported", actor="W90014"),
        ev("2026-11-27T09:05", "registered"),
        ev("2026-11-27T09:10", "dispatched", dept="civil"),
        ev("2026-11-27T10:00", "handled", dept="civil"),
        ev("2026-11-27T10:30", "verified"),
        ev("2026-11-27T10:40", "closed"),
        ev("2026-11-27T11:00", "evaluated"),
    ] + pace(h, "2026-11-27T12:00")


def stopped_at_the_deadline(g, h):
    """A clock that stops at its deadline exactly, and one at its warning exactly."""
    a = story("EDGE", g, "sanitation", 3)
    b = story("EDGE2", g, "sanitation", 3)
    return in_time_order([
        a("2026-11-27T09:00", "reported", actor="W90015"),
        a("2026-11-27T09:00", "registered"),
        a("2026-11-27T11:00", "dispatched", dept="sanitation"),  # 2 working hours to the ms
        a("2026-11-27T11:00", "handled", dept="sanitation"),
        a("2026-11-27T11:00", "verified"),  # same time: taken in type order
        a("2026-11-27T11:00", "closed"),
        b("2026-11-27T09:00", "reported", actor="W90016"),
        b("2026-11-27T09:00", "registered"),
        b("2026-11-27T10:36", "dispatched", dept="sanitation"),  # 80 % of 2 h
    ] + pace(h, "2026-11-27T12:00"))


def deadline_at_close_of_office(g, h):
    """Two working hours from 15:30 run out at 17:30 exactly."""
    a = story("EVENING", g, "sanitation", 3)
    b = story("EVENING2", g, "sanitation", 3)
    return in_time_order([
        a("2026-11-27T09:00", "reported", actor="W90017"),
        a("2026-11-27T15:30", "registered"),
        a("2026-11-27T17:40", "dispatched", dept="sanitation"),
        b("2026-11-27T09:00", "reported", actor="W90018"),
        b("2026-11-27T15:30", "registered"),  # still waiting over the weekend
    ] + pace(h, "2026-11-30T08:40"))


def second_report_earlier(g, h):
    """The earliest report gives the case its grid, category, severity and reporter."""
    ev = story("TWOREPORTS", g, "sanitation", 3)
    return [
        ev("2026-11-27T09:30:00", "reported", actor="W90019"),
        ev("2026-11-27T09:29:30", "reported", actor="W90020", grid=h, category="facility", severity=2),
        ev("2026-11-27T09:40:00", "registered"),
    ] + pace(h, "2026-11-27T12:00")


def same_time_ties(g, h):
    """Events of one time, sent in a scrambled order: taken in the type order."""
    ev = story("TIES", g, "security", 3)
    return [
        ev("2026-11-27T09:00", "registered"),  # listed first, taken after the report
        ev("2026-11-27T09:00", "reported", actor="W90021"),
        ev("2026-11-27T09:10", "accepted", dept="police"),
        ev("2026-11-27T09:10", "dispatched", dept="police"),
        ev("2026-11-27T09:50", "closed"),
        ev("2026-11-27T09:50", "escalated"),  # after closed at the same time: refused
        ev("2026-11-27T09:50", "verified"),
        ev("2026-11-27T09:50", "handled", dept="police"),
        ev("2026-11-27T09:50", "reopened"),  # after closed
    ] + pace(h, "2026-11-27T12:00")


def missing_department(g, h):
    """accepted, handled and returned without a `dept`: not the department that has it."""
    ev = story("NODEPT", g, "sanitation", 3)
    return [
        ev("2026-11-27T09:00", "reported", actor="W90022"),
        ev("2026-11-27T09:05", "registered"),
        ev("2026-11-27T09:10", "dispatched", dept="sanitation"),
        ev("2026-11-27T09:20", "accepted"),
        ev("2026-11-27T09:30", "handled"),
        ev("2026-11-27T09:40", "returned"),
    ] + pace(h, "2026-11-27T12:00")


def unknown_grid(g, h):
    """An event whose grid is not in the city model is a dead letter, whatever its type."""
    ev = story("NOGRID", g, "sanitation", 3)
    return [
        ev("2026-11-27T09:00", "reported", actor="W90023"),
        ev("2026-11-27T09:05", "registered", grid="330203999999999"),
    ] + pace(h, "2026-11-27T12:00")


def watermark_from_an_event_later_refused(g, h):
    """A report accepted on arrival moves now, though a late earlier report then makes it
    a second report (refused): "Now" counts events accepted "when it arrived or later"."""
    y = story("NOWY", g, "sanitation", 1)
    x = story("NOWX", g, "sanitation", 3)
    return [
        y("2026-11-27T09:28:00", "reported", actor="W90024"),
        y("2026-11-27T09:28:30", "registered"),  # overdue at 09:58:30, written from 09:59:30
        x("2026-11-27T10:00:00", "reported", actor="W90025"),
        x("2026-11-27T09:59:00", "reported", actor="W90026"),  # 60 s late: within the lateness
    ]


def refused_then_dead_for_good(g, h):
    """A refused event is dead-lettered once the lateness has passed; predecessors that
    come later still (beyond the lateness) do not bring it back."""
    ev = story("DEAD", g, "sanitation", 3)
    return [
        ev("2026-11-27T09:00", "reported", actor="W90027"),
        ev("2026-11-27T10:00", "handled", dept="sanitation"),  # not dispatched yet: refused
    ] + pace(h, "2026-11-27T10:05") + [
        ev("2026-11-27T09:05", "registered"),  # an hour late
        ev("2026-11-27T09:10", "dispatched", dept="sanitation"),
    ] + [story("PACE2", h, "dispute", 4)("2026-11-27T12:00", "reported", actor="W90000")]


def longer_than_the_last_edge(g, h):
    """Handled 46 days after dispatch: past the last edge (30 days), bucket 27."""
    ev = story("LONG", g, "dispute", 3)
    return [
        ev("2026-10-12T09:00", "reported", actor="W90028"),
        ev("2026-10-12T09:00", "registered"),  # register: 0 min, bucket 0
        ev("2026-10-12T10:00", "dispatched", dept="justice"),  # dispatch: 60 min, edge 60
        ev("2026-11-27T10:00", "handled", dept="justice"),
    ] + pace(h, "2026-11-27T12:00")


def reassigned_at_once(g, h):
    """Dispatched and reassigned in the same millisecond: two handle clocks, one start."""
    ev = story("ATONCE", g, "sanitation", 3)
    return [
        ev("2026-11-27T09:00", "reported", actor="W90029"),
        ev("2026-11-27T09:05", "registered"),
        ev("2026-11-27T09:10", "dispatched", dept="urban"),
        ev("2026-11-27T09:10", "reassigned", dept="sanitation"),  # 4 working hours: 13:10
    ] + pace(h, "2026-11-27T16:00")


HAND_MADE = {f.__name__: f for f in (
    reassigned, reopened_closed_twice, reopened_still_open, reopened_from_verified_late_verify,
    escalated_to_the_city, returned_and_redispatched, returned_still_open, rule_breaking,
    duplicate_ids, urgent_over_a_night, across_national_day, evaluated_without_satisfaction,
    stopped_at_the_deadline, deadline_at_close_of_office, second_report_earlier, same_time_ties,
    missing_department, unknown_grid, watermark_from_an_event_later_refused,
    refused_then_dead_for_good, longer_than_the_last_edge, reassigned_at_once,
)}


# tests/oracle.py folds every event of a case, whenever it came; the worker (and the
# contract: "kept for the allowed lateness ... then goes to the dead-letter topic")
# dead-letters a refused event once the watermark is the lateness past it, and a
# predecessor arriving later still does not bring it back. Only disorder beyond the
# lateness shows it, which the integration tests never send.
ORACLE_NO_DEAD_LETTERS = pytest.mark.xfail(strict=True, reason=(
    "tests/oracle.py revives an event the worker dead-lettered after the lateness"))

PROJECT_ORACLE_MARKS = {"refused_then_dead_for_good": ORACLE_NO_DEAD_LETTERS}
LIVE_MARKS: dict = {}


@pytest.mark.parametrize("name", [pytest.param(n, marks=PROJECT_ORACLE_MARKS.get(n, ()))
                                  for n in HAND_MADE])
def test_hand_made_case_project_oracle_agrees(city, rules, name):
    events = HAND_MADE[name](*grids(city))
    counters, alerts = case_views(city, events, rules, 1, LATENESS_MS)
    assert disagreements(counters, alerts, contract_views(city, events, 1, LATENESS_MS)) == []


@pytest.mark.parametrize("name", [pytest.param(n, marks=LIVE_MARKS.get(n, ()))
                                  for n in HAND_MADE])
def test_hand_made_case_live_projection_agrees(city, rules, name):
    events = HAND_MADE[name](*grids(city))
    counters, alerts = live_views(city, rules, events, 1)
    assert disagreements(counters, alerts, contract_views(city, events, 1, LATENESS_MS)) == []


def test_hand_made_cases_reach_what_they_are_for(city):
    """The contract oracle alone, on the points each hand-made case is there for."""
    g, h = grids(city)

    def run(scenario):
        return contract_views(city, scenario(g, h), 1, LATENESS_MS)

    def kinds(v, prefix):
        return {i[len(prefix):]: a.ts for i, a in v.alerts.items() if i.startswith(prefix)}

    v = run(escalated_to_the_city)
    case = v.cases["ESCALATE"]
    assert case.level == 3 and case.stage == "closed"
    assert [why for e, why in v.dead if e.case == "ESCALATE"] == [
        "already escalated to the city", "escalated cannot follow closed"]
    assert set(kinds(v, f"ESCALATE:dispatch:{L('2026-11-27T09:00')}:")) == {
        "warning", "overdue", "escalation:1", "escalation:2", "escalation:3", "resolved"}

    v = run(reopened_closed_twice)
    assert v.counters["closed|330200|20784"] == 1  # its first closing, Friday
    assert v.counters["sat|330200|20787"] == 1  # its last evaluation, Monday
    v = run(reopened_still_open)
    assert not [k for k in v.counters if k.startswith(("closed|", "ontime|", "eval|"))]
    assert v.counters["open|330200|d:sanitation"] == 1  # its last department

    v = run(urgent_over_a_night)
    assert kinds(v, f"URGENT:dispatch:{L('2026-11-27T22:05')}:")["overdue"] == L("2026-11-27T22:35")
    assert kinds(v, f"URGENT:verify:{L('2026-11-28T09:00')}:")["overdue"] == L("2026-11-28T13:00")

    v = run(across_national_day)
    assert kinds(v, f"HOLIDAY:dispatch:{L('2026-09-30T16:10')}:") == {
        "warning": L("2026-10-08T08:46")}  # 80 min on 09-30, 16 on 10-08
    assert kinds(v, f"HOLIDAY2:dispatch:{L('2026-10-09T16:30')}:")["overdue"] == L("2026-10-10T09:30")

    v = run(deadline_at_close_of_office)
    assert kinds(v, f"EVENING:dispatch:{L('2026-11-27T15:30')}:")["overdue"] == L("2026-11-27T17:30")

    v = run(stopped_at_the_deadline)
    assert set(kinds(v, f"EDGE:dispatch:{L('2026-11-27T09:00')}:")) == {"warning", "overdue", "resolved"}
    assert v.counters["ontime|330200|20784"] == 0 and v.counters["closed|330200|20784"] == 1

    v = run(watermark_from_an_event_later_refused)
    assert v.watermarks == {0: L("2026-11-27T10:00")}
    assert "overdue" in kinds(v, f"NOWY:dispatch:{L('2026-11-27T09:28:30')}:")

    v = run(refused_then_dead_for_good)
    assert v.cases["DEAD"].stage == "dispatched" and [e.type for e, _ in v.dead] == ["handled"]

    v = run(longer_than_the_last_edge)
    assert v.counters["dur|330200|handle|20784|27"] == 1
    assert v.counters["dur|330200|register|20738|0"] == 1
    assert v.counters["dur|330200|dispatch|20738|10"] == 1

    v = run(reassigned_at_once)
    assert {a.dept for i, a in v.alerts.items() if i.startswith("ATONCE:handle:")} == {"sanitation"}

    v = run(reopened_from_verified_late_verify)
    assert set(kinds(v, f"REOPEN3:verify:{L('2026-11-26T10:00')}:")) == {
        "warning", "overdue", "escalation:1", "resolved"}
    assert v.counters["ontime|330200|20784"] == 1  # only the last verify clock is judged


def test_an_event_past_the_lateness_moves_counters_not_written_alerts(city, rules):
    """An event later than the allowed lateness still counts in its case's figures, but
    the alerts its clock raised meanwhile stay written (contract, `case-events`)."""
    g, h = grids(city)
    ev = story("TOOLATE", g, "sanitation", 1)
    events = [
        ev("2026-11-27T23:10", "reported", actor="W90030"),
        ev("2026-11-27T23:20", "registered"),  # 30 min, 24/7: warning 23:44, overdue 23:50
    ] + pace(h, "2026-11-28T15:00") + [
        ev("2026-11-27T23:30", "dispatched", dept="sanitation"),  # 15 h late
    ]
    mine = contract_views(city, events, 1, LATENESS_MS)
    counters, alerts = live_views(city, rules, events, 1)
    assert counters == mine.counters
    assert not [i for i in mine.alerts if ":dispatch:" in i]
    extra = {alerts[i].kind for i in set(alerts) - set(mine.alerts)}
    assert set(mine.alerts) <= set(alerts) and extra == {"warning", "overdue", "escalation"}
