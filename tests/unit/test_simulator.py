"""The simulator: deterministic, sliced any way, realistic enough to drive the pipeline."""

import statistics
from collections import Counter, defaultdict

import pytest

from gridpulse.city import load_city
from gridpulse.clock import parse_local
from gridpulse.schemas import STAGES, decode_case, decode_gps, encode
from producers.simulator import Simulator, start_of_duty
from producers.walker import M_PER_DEG_LAT

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
        # a case by its id; GPS by the terminal's grid: a grid's coverage needs all its
        # terminals in one partition (and a terminal has one grid, so a track stays in order)
        assert m.key == (m.value.case if m.topic == "case-events" else m.value.grid)


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


def test_misbehaviour_does_not_depend_on_slicing(city):
    def make():
        return Simulator(city, seed=5, start_ms=START, tz=TZ, terminals=20, cases_per_day=100,
                         excursion_p=0.5, silent_p=1.0)
    until = START + 3 * 3_600_000
    a = dump(make().advance(until))
    s, b = make(), []
    while s.now < until:
        b += dump(s.advance(min(until, s.now + 37_000)))
    assert a == b


def test_workers_visit_households_and_stay_4_minutes_or_more(city):
    """The true positions, fix by fix over a duty day: stays at households, walks between."""
    day = parse_local("2026-11-27T08:00:00", TZ)
    s = Simulator(city, seed=7, start_ms=day, tz=TZ, terminals=8, cases_per_day=1)
    track = defaultdict(list)  # terminal -> [(lon, lat)], one per 10-s fix while on duty
    while s.now < day + 10.5 * 3_600_000:
        s.advance(s.now + 10_000)  # one fix of each terminal on duty per slice
        for t in s.terminals:
            if t.duty_start <= s.now < t.duty_end and t.walker.homes is not None:
                track[t.idx].append((t.walker.lon, t.walker.lat))
    visits, away = [], []
    for idx, pts in track.items():
        t = s.terminals[idx]
        homes = {(lon, lat) for _, lon, lat in city.households(t.grid)}
        runs = [[pts[0], 1]]
        for a, b in zip(pts, pts[1:]):
            step_m = ((b[0] - a[0]) * M_PER_DEG_LAT * 0.87) ** 2 + ((b[1] - a[1]) * M_PER_DEG_LAT) ** 2
            assert step_m ** 0.5 < 1.4 * 10 + 0.5  # walking pace
            if b == a:
                runs[-1][1] += 1
            else:
                runs.append([b, 1])
        for pos, n in runs[1:-1]:  # the first and last are cut by the start and end of duty
            if n == 1:
                continue  # walking
            if pos in homes:
                visits.append(n * 10 / 60)
            else:
                assert not city.contains(t.grid, *pos) and city.locate(*pos) not in (t.grid, None)
                away.append(n * 10 / 60)
    assert len(visits) > 8 * 20  # dozens of visits a day each
    assert min(visits) >= 4.0 and 6 < statistics.median(visits) < 10
    assert away and all(15.0 <= m <= 40.2 for m in away)


def test_silent_spells_are_planned_per_terminal_day(city):
    s = Simulator(city, seed=9, start_ms=START, tz=TZ, terminals=300, cases_per_day=1)
    plans = [s._duty(t, d) for t in s.terminals for d in range(20_420, 20_430)]  # 3,000 terminal-days
    silent = [(a, b, q0, q1) for a, b, q0, q1 in plans if q1]
    assert 0.035 < len(silent) / len(plans) < 0.065
    assert all(a <= q0 < q1 <= b and 20 * 60_000 <= q1 - q0 <= 45 * 60_000 for a, b, q0, q1 in silent)


def test_some_terminals_go_silent_and_some_workers_leave_their_grid(city):
    """150 terminal-days at the default rates (a fix a minute, to keep it quick)."""
    day = parse_local("2026-11-27T08:00:00", TZ)
    s = Simulator(city, seed=11, start_ms=day, tz=TZ, terminals=150, cases_per_day=1, fix_interval_s=60)
    msgs = s.advance(day + 10.5 * 3_600_000)
    fixes, sent = defaultdict(list), defaultdict(list)
    for m in msgs:
        if m.topic == "gps-fixes":
            fixes[m.value.terminal].extend(m.value.fixes)
            sent[m.value.terminal].append(m.ts)
    silent = off_grid = 0
    for t in s.terminals:
        ts = [f.ts for f in fixes[t.id]]
        gaps = [(a, b) for a, b in zip(ts, ts[1:]) if b - a > 60_000]
        if t.silent_end:  # today's plan has a silent spell: no fixes and no uploads in it
            silent += 1
            assert gaps == [(max(x for x in ts if x < t.silent_start), min(x for x in ts if x >= t.silent_end))]
            assert not [x for x in sent[t.id] if t.silent_start <= x < t.silent_end]
        else:
            assert not gaps
        run = longest = 0  # minutes in a row outside the terminal's grid
        for f in fixes[t.id]:
            run = 0 if city.contains(t.grid, f.lon, f.lat) else run + 1
            longest = max(longest, run)
        off_grid += longest >= 15
    assert 2 <= silent <= 20  # ~5% of 150
    assert 0.3 < off_grid / len(s.terminals) < 0.9  # ~1 excursion a day in 40 targets
