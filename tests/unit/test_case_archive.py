"""Archiving closed cases keeps a partition bounded and changes no figure.

A simulated city week is applied twice to one partition, archiving after 1 day and never:
the counters (but the archived cases' per-minute report counts), the alerts and the dead
letters must be the same, each run must equal the oracle, and the archiving partition
must hold far fewer cases. Then the rules for events that come after a case was
archived, one table row each.
"""

from __future__ import annotations

from collections import Counter

import msgspec
import pytest

from gridpulse.city import load_city
from gridpulse.clock import parse_local
from gridpulse.loop import record
from gridpulse.loop.facts import Rules
from gridpulse.loop.horizon import expired
from gridpulse.schemas import CaseEvent
from producers.simulator import Simulator
from streams.case_state import CasePartition
from streams.wiring import lineages
from tests.oracle import case_views

TZ = "Asia/Shanghai"
DAY = 86_400_000
LATE = 60_000
RULES = Rules.load("", "", TZ)


@pytest.fixture(scope="module")
def week():
    city = load_city()
    start = parse_local("2026-11-23T08:00:00", TZ)  # a Monday
    sim = Simulator(city, seed=11, start_ms=start, tz=TZ, terminals=12, cases_per_day=600)
    msgs = [m.value for m in sim.advance(start + 7 * DAY) if m.topic == "case-events"]
    return lineages(city), msgs


def run(lin, msgs, keep_ms: int, batch: int = 500, kpi_days: int = 0) -> CasePartition:
    """Apply ``msgs`` as a worker does: per record, then per batch advance, archive and
    drop the days behind the counter horizon (``kpi_days``; 0: none)."""
    st = CasePartition(0, lin.__getitem__, RULES, LATE, keep_ms=keep_ms, kpi_days=kpi_days)
    emitted, dead = [], []
    for off, ev in enumerate(msgs):
        before = st.watermark
        st.apply(ev, off)
        if st.watermark > before:
            st.advance()
        if off % batch == batch - 1:
            st.advance()
            st.archive()
            st.expire_days()
            if st.first_day is not None:  # what went is written as gone
                assert not any(st.counters.get(k) for k in st.dirty_keys if expired(k, st.first_day))
            emitted += st.alerts_out
            dead += st.dead_out
            st.clear_dirty()
    st.advance()
    st.archive()
    st.expire_days()
    st.emitted_all = {a.id for a in emitted + st.alerts_out}
    st.dead_all = [(d.partition, d.offset, d.reason) for _, d in dead + st.dead_out]
    return st


def test_archiving_changes_no_figure_and_bounds_the_cases(week):
    lin, msgs = week
    kept, archived = run(lin, msgs, 0), run(lin, msgs, DAY)
    assert archived.archived > 0 and kept.archived == 0
    assert len(archived.cases) < len(kept.cases) / 2, (len(archived.cases), len(kept.cases))
    def minutes_apart(c):
        return {k: v for k, v in (+c).items() if not k.startswith("newmin|")}
    assert minutes_apart(archived.counters) == minutes_apart(kept.counters)
    assert len(+archived.counters) < len(+kept.counters)  # the archived cases' minutes left
    # and both are the oracle's, which knows the contract's one difference
    city = load_city()
    assert +archived.counters == case_views(city, msgs, RULES, 1, LATE, keep_ms=DAY)[0]
    assert +kept.counters == case_views(city, msgs, RULES, 1, LATE)[0]
    assert archived.emitted_all == kept.emitted_all
    assert archived.dead_all == kept.dead_all
    assert set(archived.rows) == set(kept.rows)  # open cases are never archived


def reloaded(st: CasePartition, lin, keep_ms: int) -> CasePartition:
    """What a restart rebuilds from ``st``'s saved records and frozen counts."""
    fresh = CasePartition(0, lin.__getitem__, RULES, LATE, keep_ms=keep_ms)
    fresh.cases = {c: record.DECODER.decode(record.ENCODER.encode(r)) for c, r in st.cases.items()}
    fresh.frozen = Counter(dict(st.frozen))
    fresh.watermark, fresh.offset = st.watermark, st.offset
    for _ in fresh.rebuild():
        pass
    return fresh


def test_a_reload_from_records_and_frozen_counts_the_same(week):
    lin, msgs = week
    st = run(lin, msgs, DAY)
    fresh = reloaded(st, lin, DAY)
    assert +fresh.counters == +st.counters
    assert fresh.quiet == st.quiet and fresh.count() == st.count()


def _memo_matches(st: CasePartition) -> None:
    """Every clock a partition keeps is the one the rules compute, and it keeps them only
    for cases time can still change (held in no LRU sized by the cases seen)."""
    from gridpulse.loop.facts import CaseInfo
    for case, memo in st.clock_memo.items():
        view, rec = st.views[case], st.cases[case]
        info = CaseInfo(case, st.lineage(rec.grid), rec.category, rec.severity, rec.reported, rec.reporter)
        assert view.is_open or view.rejected or not st._settled(
            view, info, RULES.clocks(view, info), st.watermark, {}), case
        assert RULES.clocks(view, info, dict(memo)) == RULES.clocks(view, info), case


@pytest.mark.parametrize("keep_ms", [0, DAY])
def test_clocks_are_held_only_for_cases_time_can_still_change(week, keep_ms):
    lin, msgs = week
    st = run(lin, msgs, keep_ms)
    open_now = sum(v.is_open for v in st.views.values())
    assert 0 < len(st.clock_memo) < len(st.cases) / 3, (len(st.clock_memo), len(st.cases))
    assert len(st.clock_memo) >= open_now  # an open case keeps its clocks
    _memo_matches(st)
    fresh = reloaded(st, lin, keep_ms)  # a reload keeps the same ones
    assert set(fresh.clock_memo) == set(st.clock_memo)
    _memo_matches(fresh)


def _case(case: str, t0: int) -> list[CaseEvent]:
    grid, steps = "330203001001001", ["reported", "registered", "dispatched", "accepted", "handled",
                                       "verified", "closed", "evaluated"]
    out = []
    for i, stage in enumerate(steps):
        out.append(CaseEvent(id=f"{case}.{i}", case=case, type=stage, ts=t0 + i * 10 * 60_000, grid=grid,
                             category="sanitation", severity=3,
                             dept="sanitation" if stage in ("dispatched", "accepted", "handled") else None,
                             satisfaction=5 if stage == "evaluated" else None,
                             actor="W1" if stage == "reported" else None))
    return out


def _tick_to(st: CasePartition, ts: int, off: int) -> None:
    st.tick(ts, off)
    st.advance()


T0 = parse_local("2026-11-23T09:00:00", TZ)


@pytest.mark.parametrize("when, event, reason, counted", [
    # after the case is archived but before the worker removed it: "is archived"
    ("held", lambda c: CaseEvent(id="C1.9", case="C1", type="reopened", ts=T0 + 10 * DAY,
                                 grid="330203001001001", category="sanitation", severity=3, dept="sanitation"),
     "is archived", False),
    # a duplicate, before removal: refused as after it (not silently)
    ("held", lambda c: c[3], "is archived", False),
    # a duplicate of an archived case's report, after removal: too old for an unknown case
    ("removed", lambda c: c[0], "days before now", False),
    # a report that late, for a case never seen
    ("removed", lambda c: msgspec.structs.replace(c[0], id="C2.0", case="C2"), "days before now", False),
    # a fresh report within the horizon is applied as usual
    ("removed", lambda c: msgspec.structs.replace(c[0], id="C3.0", case="C3", ts=T0 + 9 * DAY), "", True),
])
def test_events_after_archiving(when, event, reason, counted):
    """Refused events are dead letters and move nothing; a fresh one is applied."""
    st = CasePartition(0, lambda g: (g, g[:12], g[:9], g[:6], "330200"), RULES, LATE, keep_ms=2 * DAY)
    evs = _case("C1", T0)
    for off, e in enumerate(evs):
        st.apply(e, off)
    _tick_to(st, T0 + 10 * DAY, 100)
    assert "C1" in st.quiet
    if when == "removed":
        assert st.archive() == 1 and "C1" not in st.cases
    before = +st.counters
    st.dead_out.clear()
    st.apply(event(evs), 101)
    st.advance()
    if counted:
        assert not st.dead_out and +st.counters != before
    else:
        assert [reason in d.reason for _, d in st.dead_out] == [True], st.dead_out
        assert +st.counters == before and st.watermark == T0 + 10 * DAY


def test_an_open_case_is_never_archived():
    st = CasePartition(0, lambda g: (g, g[:12], g[:9], g[:6], "330200"), RULES, LATE, keep_ms=DAY)
    for off, e in enumerate(_case("C1", T0)[:4]):  # accepted, never handled
        st.apply(e, off)
    _tick_to(st, T0 + 30 * DAY, 10)
    assert st.archive() == 0 and "C1" in st.cases and "C1" not in st.quiet


def test_keep_zero_never_archives():
    st = CasePartition(0, lambda g: (g, g[:12], g[:9], g[:6], "330200"), RULES, LATE, keep_ms=0)
    for off, e in enumerate(_case("C1", T0)):
        st.apply(e, off)
    _tick_to(st, T0 + 300 * DAY, 10)
    assert st.archive() == 0 and not st.quiet
    st.apply(msgspec.structs.replace(_case("C1", T0)[0], id="C9.0", case="C9"), 11)
    assert not st.dead_out  # no horizon either: an old report still counts


def test_a_case_with_a_refused_event_is_archived_as_the_oracle_says():
    """A rule-breaking event (dead-lettered once the lateness passed) does not keep a case
    from being archived, in the worker and in the oracle alike."""
    evs = _case("C1", T0)
    late = msgspec.structs.replace(evs[4], id="C1.x", ts=evs[-1].ts + 60_000)  # handled after evaluated
    city = load_city()
    lin = lineages(city)
    st = CasePartition(0, lin.__getitem__, RULES, LATE, keep_ms=DAY)
    log = [*evs, late]
    for off, e in enumerate(log):
        st.apply(e, off)
        st.advance()
    later = msgspec.structs.replace(evs[0], id="C2.0", case="C2", ts=T0 + 3 * DAY)  # moves "now"
    st.apply(later, len(log))
    st.advance()
    assert st.archive() == 1 and len(st.dead_out) == 1, st.dead_out  # the late "handled"
    want, _ = case_views(city, [*log, later], RULES, 1, LATE, keep_ms=DAY)
    assert +st.counters == want


def test_a_record_with_no_valid_event_is_removed():
    """A late event of an unknown case (an archived one whose record is gone) is refused
    by the loop's rules after the lateness, and its empty record goes."""
    st = CasePartition(0, lambda g: (g, g[:12], g[:9], g[:6], "330200"), RULES, LATE, keep_ms=DAY)
    for off, e in enumerate(_case("C1", T0)):
        st.apply(e, off)
    _tick_to(st, T0 + 3 * DAY, 10)
    assert st.archive() == 1
    st.apply(msgspec.structs.replace(_case("C1", T0)[0], id="C1.r", type="reopened", ts=T0 + 3 * DAY,
                                     dept="sanitation"), 11)
    assert "C1" in st.cases and not st.dead_out  # waits for the lateness first
    _tick_to(st, T0 + 3 * DAY + 2 * LATE, 12)
    assert [d.reason for _, d in st.dead_out] and st.cases["C1"].history == []
    assert st.archive() == 0 and "C1" not in st.cases and "C1" in st.evicted
