"""Working calendar: office hours, weekends, holidays and 调休 make-up days.

Zone assumption: Asia/Shanghai has had no DST since 1991, so every working day is
exactly 9 working hours; ``test_shanghai_days_are_nine_hours`` pins that down, and
``test_dst_zone_keeps_local_office_hours`` shows other zones still get local hours.
"""

import random
from datetime import date

import pytest

from gridpulse.clock import DAY_MS, HOUR_MS, MINUTE_MS, local_day, parse_local
from gridpulse.loop.calendar import CLOCK24, WorkingCalendar, load_calendar

TZ = "Asia/Shanghai"
CAL = load_calendar()
PLAIN = WorkingCalendar()  # no holidays at all


def L(text: str) -> int:
    return parse_local(text, TZ)


ADD_CASES = [
    # (why, start, duration ms, expected)
    ("Friday 17:00 + 1 h runs over the weekend", "2026-11-27T17:00", HOUR_MS, "2026-11-30T09:00"),
    ("start before opening counts from 08:30", "2026-11-30T07:00", HOUR_MS, "2026-11-30T09:30"),
    ("start after closing counts from next morning", "2026-11-30T20:00", HOUR_MS, "2026-12-01T09:30"),
    ("start in the weekend counts from Monday", "2026-11-28T12:00", 2 * HOUR_MS, "2026-11-30T10:30"),
    ("ending exactly at closing stays that evening", "2026-11-27T17:00", 30 * MINUTE_MS, "2026-11-27T17:30"),
    ("one ms past closing is Monday 08:30:00.001", "2026-11-27T17:30", 1, "2026-11-30T08:30:00.001"),
    ("zero duration is the start itself, even off hours", "2026-11-28T12:00", 0, "2026-11-28T12:00"),
    ("5 working days = same time a week later", "2026-11-23T10:00", 45 * HOUR_MS, "2026-11-30T10:00"),
    ("a full working day from opening ends at closing", "2026-11-30T08:30", 9 * HOUR_MS, "2026-11-30T17:30"),
    ("start on a holiday (National Day)", "2026-10-01T10:00", HOUR_MS, "2026-10-08T09:30"),
    ("golden week is skipped", "2026-09-30T16:00", 4 * HOUR_MS, "2026-10-08T11:00"),
    ("make-up Saturday 2026-10-10 works", "2026-10-09T17:00", HOUR_MS, "2026-10-10T09:00"),
    ("make-up Sunday 2026-09-20 works", "2026-09-19T12:00", HOUR_MS, "2026-09-20T09:30"),
    ("Spring Festival: make-up Sat 02-14, then off to 02-23",
     "2026-02-14T17:00", HOUR_MS, "2026-02-24T09:00"),
    ("New Year 2026: Sunday 01-04 is a working day", "2025-12-31T17:00", HOUR_MS, "2026-01-04T09:00"),
    ("Dragon Boat Friday 2026-06-19 is off", "2026-06-18T17:00", HOUR_MS, "2026-06-22T09:00"),
]


@pytest.mark.parametrize("why,start,dur,expected", ADD_CASES, ids=[c[0] for c in ADD_CASES])
def test_add(why, start, dur, expected):
    assert CAL.add(L(start), dur) == L(expected)
    assert CAL.between(L(start), L(expected)) == dur


def test_without_holidays_national_day_is_ordinary():
    assert PLAIN.add(L("2026-10-01T10:00"), HOUR_MS) == L("2026-10-01T11:00")
    assert PLAIN.add(L("2026-10-09T17:00"), HOUR_MS) == L("2026-10-12T09:00")  # Saturday off


IS_WORKING_CASES = [
    ("2026-11-30T08:30", True),
    ("2026-11-30T08:29:59.999", False),
    ("2026-11-30T17:29:59.999", True),
    ("2026-11-30T17:30", False),
    ("2026-11-28T10:00", False),  # Saturday
    ("2026-11-29T10:00", False),  # Sunday
    ("2026-10-10T10:00", True),  # make-up Saturday
    ("2026-10-05T10:00", False),  # National Day week (a Monday)
    ("2026-02-23T10:00", False),  # last day of Spring Festival (a Monday)
    ("2025-10-08T10:00", False),  # 2025 National Day + Mid-Autumn, 8 days
    ("2025-10-11T10:00", True),  # 2025 make-up Saturday
]


@pytest.mark.parametrize("ts,expected", IS_WORKING_CASES)
def test_is_working(ts, expected):
    assert CAL.is_working(L(ts)) is expected


BETWEEN_CASES = [
    ("2026-11-27T17:00", "2026-11-30T09:00", HOUR_MS),  # over a weekend
    ("2026-11-27T12:00", "2026-11-30T12:00", 9 * HOUR_MS),
    ("2026-11-28T00:00", "2026-11-30T00:00", 0),  # the weekend itself
    ("2026-11-30T00:00", "2026-12-07T00:00", 45 * HOUR_MS),  # a whole week
    ("2026-09-28T00:00", "2026-10-12T00:00", 6 * 9 * HOUR_MS),  # 2 weeks around golden week
    ("2026-11-30T12:00", "2026-11-30T12:00", 0),  # empty
    ("2026-11-30T13:00", "2026-11-30T12:00", 0),  # reversed
]


@pytest.mark.parametrize("a,b,expected", BETWEEN_CASES)
def test_between(a, b, expected):
    assert CAL.between(L(a), L(b)) == expected


def _random_pairs(n, seed):
    rng = random.Random(seed)
    lo, hi = L("2025-12-01T00:00"), L("2027-01-31T00:00")
    for _ in range(n):
        start = rng.randrange(lo, hi)
        if rng.random() < 0.3:  # land on round minutes, opening and closing included
            start -= start % MINUTE_MS
        dur = rng.choice([0, 1, rng.randrange(HOUR_MS), rng.randrange(1, 10) * HOUR_MS,
                          rng.randrange(20 * 9 * HOUR_MS), 9 * HOUR_MS])
        yield start, dur


def test_round_trip_property():
    for start, dur in _random_pairs(2000, seed=20261127):
        end = CAL.add(start, dur)
        assert end >= start
        assert CAL.between(start, end) == dur, (start, dur)
        if dur:  # earliest instant: one ms less of working time is not enough
            assert CAL.between(start, end - 1) == dur - 1


def test_between_is_additive():
    rng = random.Random(7)
    lo = L("2026-01-01T00:00")
    for _ in range(500):
        a, b, c = sorted(rng.randrange(lo, lo + 60 * DAY_MS) for _ in range(3))
        assert CAL.between(a, c) == CAL.between(a, b) + CAL.between(b, c)


def test_between_matches_minute_by_minute_count():
    rng = random.Random(3)
    lo = L("2026-09-15T00:00")  # around golden week and its make-up days
    for _ in range(40):
        a = lo + rng.randrange(30 * 24 * 60) * MINUTE_MS
        b = a + rng.randrange(4 * 24 * 60) * MINUTE_MS
        slow = sum(MINUTE_MS for t in range(a, b, MINUTE_MS) if CAL.is_working(t))
        assert CAL.between(a, b) == slow


def test_long_span_is_cheap_and_exact():
    start = L("2026-01-01T00:00")
    end = CAL.add(start, 250 * 9 * HOUR_MS)  # about a working year
    assert CAL.between(start, end) == 250 * 9 * HOUR_MS
    assert local_day(end, TZ) - local_day(start, TZ) < 380


def test_next_working():
    assert CAL.next_working(L("2026-11-27T17:30")) == L("2026-11-30T08:30")
    assert CAL.next_working(L("2026-11-30T10:00")) == L("2026-11-30T10:00")


CLOCK24_CASES = [(0, HOUR_MS, HOUR_MS), (L("2026-11-28T12:00"), 5 * DAY_MS, 5 * DAY_MS)]


@pytest.mark.parametrize("start,dur,span", CLOCK24_CASES)
def test_clock24(start, dur, span):
    assert CLOCK24.add(start, dur) == start + span
    assert CLOCK24.between(start, start + span) == span
    assert CLOCK24.between(start + span, start) == 0
    assert CLOCK24.is_working(start) and not CLOCK24.working


def test_shanghai_days_are_nine_hours():
    day = local_day(L("2025-01-01T12:00"), TZ)
    for d in range(day, day + 3 * 366):
        assert CAL.between(d * DAY_MS - 8 * HOUR_MS, (d + 1) * DAY_MS - 8 * HOUR_MS) in (0, 9 * HOUR_MS)
    assert CAL.day_ms == 9 * HOUR_MS


def test_dst_zone_keeps_local_office_hours():
    berlin = WorkingCalendar(tz="Europe/Berlin", weekdays=range(7))
    # 2026-03-29: clocks go forward at 02:00; opening is 08:30 CEST = 06:30 UTC.
    assert berlin.next_working(parse_local("2026-03-29T03:00", "Europe/Berlin")) == \
        parse_local("2026-03-29T06:30+00:00", "UTC")


BAD_FILES = [
    ("unknown top-level key", "[calender]\ntz = 'UTC'\n", "calender"),
    ("unknown calendar key", "[calendar]\nday_begin = '08:00'\n", "calendar.day_begin"),
    ("unknown holiday key", "[[holidays]]\nname = 'x'\nfirst = 2026-01-01\nend = 2026-01-02\n", "end"),
    ("last before first", "[[holidays]]\nfirst = 2026-01-03\nlast = 2026-01-01\n", "last"),
    ("string instead of date", "[[holidays]]\nfirst = '2026-01-01'\n", "first"),
    ("day both off and on", "[[holidays]]\nfirst = 2026-01-01\nlast = 2026-01-03\nworkdays = [2026-01-02]\n",
     "both off"),
    ("bad office hours", "[calendar]\nday_start = '8h30'\n", "day_start"),
]


@pytest.mark.parametrize("why,text,key", BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_bad_holiday_file(tmp_path, why, text, key):
    path = tmp_path / "h.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=key):
        load_calendar(path)


def test_default_file_contents():
    assert date(2026, 2, 17) in CAL.holidays  # Spring Festival day
    assert CAL.workdays == {date(2025, 1, 26), date(2025, 2, 8), date(2025, 4, 27), date(2025, 9, 28),
                            date(2025, 10, 11), date(2026, 1, 4), date(2026, 2, 14), date(2026, 2, 28),
                            date(2026, 5, 9), date(2026, 9, 20), date(2026, 10, 10)}
    assert all(d.weekday() >= 5 for d in CAL.workdays)
