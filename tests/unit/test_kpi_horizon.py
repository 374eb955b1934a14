"""The counter horizon (docs/contract.md, "Counter horizon"): per-day counters of days
``kpi_days`` behind a partition's now are dropped however the log is batched, with cases
archived or not, after a reload, and as the oracle computes them; no other counter moves.
"""

from __future__ import annotations

from collections import Counter

import pytest

from gridpulse.city import load_city
from gridpulse.clock import parse_local
from gridpulse.loop import record
from gridpulse.loop.facts import Rules, TYPICAL_DAYS
from gridpulse.loop.horizon import expired, first_day, key_day
from producers.simulator import Simulator
from streams.case_state import CasePartition
from streams.wiring import lineages
from tests.oracle import case_views
from tests.unit.test_case_archive import run as run_archiving

TZ = "Asia/Shanghai"
DAY = 86_400_000
LATE = 60_000
RULES = Rules.load("", "", TZ)


@pytest.mark.parametrize("key, day", [
    ("new|330203|20784", 20784),
    ("new|330203|c:sanitation|20784", 20784),
    ("w:ontime|W00012|20785", 20785),
    ("dur|330200|dispatch|20784|7", 20784),
    ("dur|330203|d:sanitation|handle|20783|12", 20783),
    ("h|sanitation|fire|20780|3", 20780),
    ("disp|330203|d:fire|20784", 20784),
    ("visits|330203001001001|20784", 20784),
    ("open|330203", None),
    ("overdue|330203|d:fire", None),
    ("newmin|330203|29946240", None),
    ("stage|330203|dispatched", None),
    ("cov30|330203", None),
])
def test_the_day_of_a_key(key, day):
    assert key_day(key) == day


@pytest.mark.parametrize("key, first, gone", [
    ("new|330203|20783", 20784, True),
    ("new|330203|20784", 20784, False),
    ("open|330203", 20784, False),
    # what a department's typical handling time is learned from stays TYPICAL_DAYS longer
    (f"h|fire|fire|{20784 - TYPICAL_DAYS}|3", 20784, False),
    (f"h|fire|fire|{20783 - TYPICAL_DAYS}|3", 20784, True),
])
def test_what_is_dropped(key, first, gone):
    assert expired(key, first) is gone


@pytest.fixture(scope="module")
def week():
    city = load_city()
    start = parse_local("2026-11-23T08:00:00", TZ)  # a Monday
    sim = Simulator(city, seed=11, start_ms=start, tz=TZ, terminals=12, cases_per_day=600)
    msgs = [m.value for m in sim.advance(start + 7 * DAY) if m.topic == "case-events"]
    return city, lineages(city), msgs


def run(lin, msgs, kpi_days: int, batch: int, keep_ms: int = 0) -> CasePartition:
    """Apply ``msgs`` as a worker does (tests/unit/test_case_archive.py's run)."""
    return run_archiving(lin, msgs, keep_ms, batch, kpi_days)


@pytest.mark.parametrize("batch, keep_ms", [(500, 0), (37, DAY), (1, DAY)])
def test_old_days_go_and_nothing_else_moves(week, batch, keep_ms):
    city, lin, msgs = week
    full = run(lin, msgs, 0, 500, keep_ms)
    held = run(lin, msgs, 2, batch, keep_ms)
    first = first_day(held.watermark, TZ, 2)
    assert held.first_day == first
    want = Counter({k: n for k, n in (+full.counters).items() if not expired(k, first)})
    assert +held.counters == want
    assert len(want) < len(+full.counters) * 0.8  # five of the seven days went
    assert {key_day(k) for k in want if k[0] != "h"} - {None} == {first, first + 1}
    assert +held.counters == case_views(city, msgs, RULES, 1, LATE, keep_ms=keep_ms, kpi_days=2)[0]
    assert held.emitted_all == full.emitted_all  # what is learned for alerts is still there
    assert not any(expired(k, first) for k in held.frozen)


def test_a_reload_holds_the_same_days(week):
    city, lin, msgs = week
    st = run(lin, msgs, 2, 500, DAY)
    fresh = CasePartition(0, lin.__getitem__, RULES, LATE, keep_ms=DAY, kpi_days=2)
    fresh.cases = {c: record.DECODER.decode(record.ENCODER.encode(r)) for c, r in st.cases.items()}
    fresh.frozen = Counter(dict(st.frozen))
    fresh.watermark, fresh.offset = st.watermark, st.offset
    for _ in fresh.rebuild():
        pass
    assert +fresh.counters == +st.counters
    assert fresh.first_day == st.first_day
    # Held cases list keys of days gone; the only writes a reload asks for are deletions.
    assert all(expired(k, fresh.first_day) for k in fresh.dirty_keys)


def test_a_smaller_horizon_than_the_saved_one_drops_on_load(week):
    """Counters saved while 3 days were held, loaded by a worker told 2: the extra day's
    keys go from memory and are marked for deletion from Redis."""
    city, lin, msgs = week
    st = run(lin, msgs, 3, 500)
    fresh = CasePartition(0, lin.__getitem__, RULES, LATE, kpi_days=2)
    fresh.cases = {c: record.DECODER.decode(record.ENCODER.encode(r)) for c, r in st.cases.items()}
    fresh.watermark, fresh.offset = st.watermark, st.offset
    for _ in fresh.rebuild():
        pass
    extra = {k for k in +st.counters if key_day(k) == fresh.first_day - 1 and not k.startswith("h|")}
    assert extra and extra <= fresh.dirty_keys
    assert not any(fresh.counters.get(k) for k in extra)
