"""The simulator: deterministic, sliced any way, realistic enough to drive the pipeline."""

from collections import Counter

import pytest

from gridpulse.city import load_city
from gridpulse.clock import parse_local
from gridpulse.schemas import STAGES, decode_case, decode_gps, encode
from producers.simulator import Simulator, start_of_duty

TZ = "Asia/Shanghai"
START = parse_local("2026-11-27T09:00:00", TZ)


@pytest.fixture(scope="module")
def city():
    return load_city("ningbo")


def sim(city, seed=7, terminals=300):
    return Simulator(city, seed=seed, start_ms=START, tz=TZ, terminals=terminals)


def dump(msgs):
    return [(m.topic, m.key, encode(m.value)) for m in msgs]


def test_same_seed_same_events_however_time_is_sliced(city):
    a = dump(sim(city).advance(START + 30 * 60_000))
    s = sim(city)
    b = []
    for step in (1, 7_000, 61_000, 500_000, 30 * 60_000):
        b += dump(s.advance(START + step))
    assert a == b and len(a) > 100


def test_other_seed_other_events(city):
    assert dump(sim(city, seed=1).advance(START + 600_000)) != dump(sim(city, seed=2).advance(START + 600_000))


def test_messages_are_valid_on_the_wire_and_sorted(city):
    msgs = sim(city).advance(START + 20 * 60_000)
    assert [m.ts for m in msgs] == sorted(m.ts for m in msgs)
    for m in msgs:
        raw = encode(m.value)
        decoded = decode_case(raw) if m.topic == "case-events" else decode_gps(raw)
        assert decoded == m.value


def test_workers_walk_inside_their_grid(city):
    msgs = sim(city, terminals=100).advance(START + 30 * 60_000)
    fixes = [(m.value.grid, f) for m in msgs if m.topic == "gps-fixes" for f in m.value.fixes]
    assert len(fixes) > 1000
    inside = sum(city.locate(f.lon, f.lat) == g for g, f in fixes)
    assert inside / len(fixes) > 0.9  # GPS noise may put a fix just over the line


def test_cases_run_the_loop_in_order(city):
    s = sim(city, terminals=5)  # cases do not need many walkers; fixes cost time
    msgs = s.advance(START + 2 * 86_400_000)
    by_case = {}
    for m in msgs:
        if m.topic == "case-events":
            by_case.setdefault(m.key, []).append(m.value)
    assert len(by_case) > 300
    order = {s: i for i, s in enumerate(STAGES)}
    complete = first_day = 0
    for evs in by_case.values():
        assert evs[0].type == "reported"
        assert len({e.id for e in evs}) == len(evs)
        stages = [e.type for e in evs]
        if evs[0].ts < START + 86_400_000:
            first_day += 1
            complete += "evaluated" in stages
        if "evaluated" in stages:
            assert stages[-1] == "evaluated"
        assert all(order[a] < order[b] or b in ("dispatched",) for a, b in zip(stages, stages[1:])
                   if a != "returned")
    assert complete / first_day > 0.8  # a day later most cases ran the loop (disputes take days)


def test_daily_volume_follows_the_configured_rate(city):
    s = Simulator(city, seed=3, start_ms=parse_local("2026-11-27T00:00:00", TZ), tz=TZ,
                  terminals=5, cases_per_day=15000)
    day = s.advance(s.now + 86_400_000)
    reported = sum(1 for m in day if m.topic == "case-events" and m.value.type == "reported")
    assert 14_000 < reported < 16_000
    hours = Counter(int((m.ts - s.now + 86_400_000) // 3_600_000) for m in day
                    if m.topic == "case-events" and m.value.type == "reported")
    assert hours[10] > 4 * hours[3]  # mid-morning peak, quiet night


def test_no_fixes_off_duty(city):
    s = Simulator(city, seed=3, start_ms=parse_local("2026-11-27T19:00:00", TZ), tz=TZ, terminals=50)
    night = s.advance(s.now + 10 * 3_600_000)  # 19:00 - 05:00
    assert not [m for m in night if m.topic == "gps-fixes"]


@pytest.mark.parametrize("now,expected", [
    ("2026-11-27T10:00:00", "2026-11-27T10:00:00"),
    ("2026-11-27T07:00:00", "2026-11-27T08:30:00"),
    ("2026-11-27T20:00:00", "2026-11-28T08:30:00"),
])
def test_start_of_duty(now, expected):
    assert start_of_duty(parse_local(now, TZ), TZ) == parse_local(expected, TZ)
