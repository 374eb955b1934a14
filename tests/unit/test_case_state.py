"""The case projection: exact counts in any order, duplicates and replays ignored."""

import itertools

import pytest

from gridpulse.clock import local_day, minute, parse_local
from gridpulse.schemas import CaseEvent
from streams.case_state import CasePartition

TZ = "Asia/Shanghai"
T0 = parse_local("2026-11-27T09:00:00", TZ)
LINEAGE = {
    "330203001001001": ("330203001001001", "330203001001", "330203001", "330203", "330200"),
    "330212002003004": ("330212002003004", "330212002003", "330212002", "330212", "330200"),
}


def ev(eid, case, stage, minutes, grid="330203001001001"):
    return CaseEvent(id=eid, case=case, type=stage, ts=T0 + minutes * 60_000, grid=grid,
                     category="sanitation", severity=3)


def part():
    return CasePartition(0, LINEAGE.__getitem__, TZ)


def counts(st):
    return tuple(sorted((k, v) for k, v in c.items() if v) for c in (st.open, st.new_day, st.new_min))


CASES = [
    # (name, events, open per city, reported today)
    ("reported only", [ev("a.0", "a", "reported", 0)], 1, 1),
    ("closed", [ev("a.0", "a", "reported", 0), ev("a.1", "a", "closed", 30)], 0, 1),
    ("evaluated after closed", [ev("a.0", "a", "reported", 0), ev("a.1", "a", "closed", 30),
                                ev("a.2", "a", "evaluated", 90)], 0, 1),
    ("reopened", [ev("a.0", "a", "reported", 0), ev("a.1", "a", "closed", 30),
                  ev("a.2", "a", "reopened", 60)], 1, 1),
    ("two cases", [ev("a.0", "a", "reported", 0), ev("b.0", "b", "reported", 5, "330212002003004")], 2, 2),
    ("close without report", [ev("a.1", "a", "closed", 30)], 0, 0),
    ("duplicate id counts once", [ev("a.0", "a", "reported", 0), ev("a.0", "a", "reported", 0)], 1, 1),
]


@pytest.mark.parametrize("name,events,open_city,new_city", CASES, ids=[c[0] for c in CASES])
def test_counts(name, events, open_city, new_city):
    st = part()
    st.apply_all(enumerate(events))
    assert st.open["330200"] == open_city
    assert st.new_day[f"330200|{local_day(T0, TZ)}"] == new_city


@pytest.mark.parametrize("name,events,open_city,new_city", CASES, ids=[c[0] for c in CASES])
def test_any_arrival_order_gives_the_same_projection(name, events, open_city, new_city):
    results = set()
    for perm in itertools.permutations(events):
        st = part()
        st.apply_all(enumerate(perm))
        results.add(repr(counts(st)))
    assert len(results) == 1


def test_replayed_offsets_are_ignored():
    st = part()
    assert st.apply(ev("a.0", "a", "reported", 0), 5)
    assert not st.apply(ev("b.0", "b", "reported", 1), 5)  # same offset again: a replay
    assert st.open["330200"] == 1


def test_open_counts_every_level_and_minutes_only_district_and_city():
    st = part()
    st.apply(ev("a.0", "a", "reported", 0), 0)
    for code in LINEAGE["330203001001001"]:
        assert st.open[code] == 1
    m = minute(T0)
    assert set(st.new_min) == {f"330203|{m}", f"330200|{m}"}


def test_earliest_report_wins_and_moves_the_buckets():
    st = part()
    st.apply(ev("a.1", "a", "reported", 10), 0)
    st.apply(ev("a.0", "a", "reported", 0), 1)
    assert st.new_min[f"330200|{minute(T0)}"] == 1
    assert st.new_min[f"330200|{minute(T0) + 10}"] == 0


def test_prune_drops_old_minutes_and_recent_cases():
    st = part()
    st.apply(ev("a.0", "a", "reported", 0), 0)
    st.apply(ev("b.0", "b", "reported", 3 * 24 * 60), 1)
    st.prune()
    assert f"330200|{minute(T0)}" not in st.new_min
    assert "a" not in st.recent and "b" in st.recent
    assert "a" in st.dropped_recent


def test_dirty_tracking_names_what_changed():
    st = part()
    st.apply(ev("a.0", "a", "reported", 0), 0)
    assert st.dirty_cases == {"a"} and "330200" in st.dirty_open
    st.clear_dirty()
    st.apply(ev("a.1", "a", "registered", 1), 1)
    assert st.dirty_cases == {"a"} and not st.dirty_open and st.dirty_recent == {"a"}
