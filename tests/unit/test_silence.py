"""Silent grids and the terminal facts that depend on the clock, table by table."""

import pytest

from gridpulse.clock import DAY_MS, parse_local
from gridpulse.visits.day import Terminal
from gridpulse.visits.facts import coverage_counts, monday, term_facts, term_next_change
from gridpulse.visits.rules import VisitRules
from gridpulse.visits.silence import silent_counts, silent_grids

TZ = "Asia/Shanghai"
R = VisitRules(tz=TZ)


def at(hhmm, day="2026-11-26"):
    return parse_local(f"{day}T{hhmm}:00", TZ)


@pytest.mark.parametrize("visit,case,since,now_days,silent", [
    (None, None, 0, 3, True),  # never active, watched for 3 days
    (None, None, 0, 2.9, False),
    (0.5, None, 0, 3.4, False),  # visited half a day in
    (0.5, None, 0, 3.5, True),
    (None, 1.0, 0, 3.9, False),  # a case counts as a sign of life too
    (0.2, 1.0, 0, 4.0, True),
])
def test_silent_grids(visit, case, since, now_days, silent):
    t0 = at("00:00")
    lv = {"G": t0 + int(visit * DAY_MS)} if visit is not None else {}
    lc = {"G": t0 + int(case * DAY_MS)} if case is not None else {}
    got = silent_grids(["G"], lv, lc, t0 + since, t0 + int(now_days * DAY_MS), 3)
    assert ("G" in got) == silent
    if silent:
        assert got["G"] == max([t0] + list(lv.values()) + list(lc.values()))


def test_silent_counts_roll_up():
    c = silent_counts(["G1", "G2"], lambda g: (g, "C", "X"))
    assert c == {"sgrid|G1": 1, "sgrid|G2": 1, "sgrid|C": 2, "sgrid|X": 2}


@pytest.mark.parametrize("seen,now,active,silent", [
    ("09:00", "09:05", True, False),
    ("09:00", "09:09", True, False),
    ("09:00", "09:14", False, False),  # not out now, not yet silent
    ("09:00", "09:15", False, True),  # 15 min of duty without a fix
    ("07:00", "08:44", False, False),  # before duty: silence counts from 08:30
    ("07:00", "08:45", False, True),
    ("17:20", "17:40", False, False),  # after duty, nobody is silent
    ("17:10", "17:25", False, True),
    (None, "10:00", False, False),  # never seen
])
def test_terminal_activity_and_silence(seen, now, active, silent):
    t = Terminal("T1", seen=at(seen) if seen else 0, grid="G")
    a, s, _ = term_facts(t, at(now), R)
    assert (a, s) == (active, silent)


def test_next_change_is_the_first_instant_facts_move():
    t = Terminal("T1", seen=at("09:00"), grid="G")
    now = at("09:01")
    nxt = term_next_change(t, now, R)
    assert nxt == at("09:10")  # the activity window ends
    assert term_facts(t, nxt - 1, R) != term_facts(t, nxt, R)
    assert term_next_change(t, nxt, R) == at("09:15")  # then the silence starts
    assert term_next_change(t, at("09:15"), R) == at("17:30")  # and ends with duty


def test_off_grid_needs_the_duration_and_activity():
    t = Terminal("T1", seen=at("10:00"), grid="G", off_since=at("09:40"), off_last=at("10:00"))
    assert term_facts(t, at("10:01"), R)[2]
    t.off_since = at("09:50")
    assert not term_facts(t, at("10:01"), R)[2]  # 10 minutes out is not yet off grid
    t.off_since = at("09:40")
    assert not term_facts(t, at("10:30"), R)[2]  # not active any more


def test_coverage_windows():
    from array import array
    d = 20783  # 2026-11-26, a Thursday
    assert monday(d) == d - 3
    arr = array("H", [0, d, d - 1, d - 3, d - 4, d - 29, d - 30])
    assert coverage_counts(arr, d) == (1, 3, 5)
